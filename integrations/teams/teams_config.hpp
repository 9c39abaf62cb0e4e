#pragma once
// Settings shared by the Teams clients: the bot's Entra identity and the base
// URL of every Microsoft endpoint, so tests and sovereign clouds can point
// each one elsewhere (Bot Framework authentication, activities and Microsoft Graph on learn.microsoft.com).
#include <chrono>
#include <string>

namespace baton::teams {

struct TeamsConfig {
  /// The `teams` section is in use: app_id is set, or allow_unauthenticated
  /// (bot/config.hpp holds this struct as is).
  bool enabled = false;
  std::string app_id;        ///< MicrosoftAppId: the bot's Entra application id (the JWT audience)
  std::string app_password;  ///< MicrosoftAppPassword: the client secret
  std::string tenant_id;     ///< single-tenant bots; empty = "botframework.com" (legacy multi-tenant)
  std::string login_base = "https://login.microsoftonline.com";
  std::string openid_metadata_url = "https://login.botframework.com/v1/.well-known/openidconfiguration";
  /// The Bot Connector's default service URL (`connector_base` in the file).
  std::string connector_service_url = "https://smba.trafficmanager.net/teams/";
  std::string graph_base = "https://graph.microsoft.com/v1.0";
  std::chrono::milliseconds timeout{10000};  ///< per HTTP request
  /// Local development with Microsoft 365 Agents Playground, which has no token
  /// endpoint: Bot Connector calls to a loopback serviceUrl (localhost,
  /// 127.0.0.0/8, [::1]) carry no token, so Entra is never asked, and the app
  /// credentials may be empty. Calls anywhere else still carry one. Never set
  /// in production (bot/config.cpp allows it only when baton listens on loopback).
  bool allow_unauthenticated = false;
};

}  // namespace baton::teams
