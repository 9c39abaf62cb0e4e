#pragma once
// A protocol-faithful fake of Microsoft's side of a Teams bot
// (the Bot Framework REST API and Microsoft Graph as documented on learn.microsoft.com) on one HttpPeer:
// - Entra token endpoint: POST /{tenant}/oauth2/v2.0/token (client
//   credentials; AAD error bodies such as {"error":"invalid_client",...});
// - Bot Framework OpenID metadata (GET /v1/.well-known/openidconfiguration)
//   and JWKS (GET /keys, RSA keys with `endorsements`), plus mint_token() to
//   sign channel-to-bot JWTs with them;
// - Bot Connector under service_url() (/teams/v3/conversations...): creates
//   conversations, records and updates activities, answers Teams' statuses
//   and {"error":{"code","message"}} bodies when scripted;
// - Graph: POST /v1.0/teams/{group-id}/channels, with name uniqueness (409).
// Thread-safe. RSA keys are generated at construction (2048 bits).
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/time.hpp"
#include "integrations/teams/teams_config.hpp"
#include "tests/support/http_peer.hpp"

namespace baton::integrations {
class AsyncHttpClient;
}

namespace baton::test {

/// The non-blocking outbound client on an io_context run by a thread of its
/// own, as the App runs it on "baton-net". Declare it before everything that
/// holds its client: the client must go before the io_context.
class AsyncNet {
 public:
  AsyncNet();
  ~AsyncNet();  ///< cancels what is still in flight, stops the thread
  AsyncNet(const AsyncNet&) = delete;
  AsyncNet& operator=(const AsyncNet&) = delete;
  std::shared_ptr<integrations::AsyncHttpClient> client() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Overrides for mint_token(); unset fields take a valid default.
struct JwtOverrides {
  std::optional<std::string> alg;      ///< "RS256"; "none" (no signature), "HS256" (HMAC keyed with the JWK's n), "RS384"...
  std::optional<std::string> kid;      ///< the header's kid; default the signing key's
  bool foreign_key = false;            ///< sign with a key the JWKS does not serve (kid "foreign-key")
  bool bad_signature = false;          ///< flip a bit of the signature
  std::optional<std::string> iss;      ///< "https://api.botframework.com"
  std::optional<std::string> aud;      ///< the app id
  std::optional<std::string> service_url;  ///< service_url()
  bool omit_service_url = false;
  std::optional<std::int64_t> nbf;     ///< epoch seconds; default the clock's now
  std::optional<std::int64_t> exp;     ///< epoch seconds; default now + 1 h
  std::optional<std::string> payload;  ///< raw payload JSON, replacing every claim above
};

struct TokenRequestRecord {
  std::string tenant;
  std::string grant_type;
  std::string client_id;
  std::string scope;
  bool granted = false;
  std::string access_token;  ///< "" unless granted
};

/// One Bot Connector request, as received.
struct ConnectorCall {
  std::string method;  ///< "POST", "PUT"...
  std::string path;    ///< percent-decoded, relative to the service URL: "/v3/conversations/a:1/activities"
  std::string raw_target;  ///< as sent, encoded
  std::string token;   ///< bearer token, "" without
  std::string body;
  int status = 0;      ///< what the fake answered
};

/// An activity the bot posted (or updated).
struct FakeTeamsActivity {
  std::string conversation_id;
  std::string id;
  std::string reply_to_id;
  std::string json;  ///< the body last received for it
  int edits = 0;     ///< PUTs applied
};

struct FakeTeamsConversation {
  std::string id;  ///< "a:..." or "19:...@thread.tacv2;messageid=..."
  bool is_group = false;
  std::string channel_id;  ///< group: the channel
  std::string member_id;   ///< personal: the user ("29:...")
  std::string tenant_id;
};

struct FakeGraphChannel {
  std::string team_id;  ///< group id
  std::string id;       ///< "19:...@thread.tacv2"
  std::string display_name;
  std::string description;
  std::string membership_type;
};

class FakeTeams {
 public:
  static constexpr const char* kAppId = "00000000-0000-0000-0000-0000000000b0";
  static constexpr const char* kAppPassword = "fake-app-password";
  static constexpr const char* kTenantId = "72f988bf-0000-0000-0000-000000000000";
  static constexpr const char* kIssuer = "https://api.botframework.com";

  FakeTeams();  ///< tokens minted against the system clock
  explicit FakeTeams(const engine::Clock& clock);
  ~FakeTeams();

  /// Every base URL pointed at this fake; app id, password and tenant as above.
  teams::TeamsConfig config() const;
  std::string url() const;          ///< "http://127.0.0.1:<port>"
  std::string service_url() const;  ///< "http://127.0.0.1:<port>/teams/" (trailing slash, like Teams)
  HttpPeer& peer() { return peer_; }

  // --- inbound JWTs ---
  std::string mint_token(const JwtOverrides& overrides = {}) const;
  std::string current_kid() const;
  /// A new signing key replaces the served one (the old one leaves the JWKS).
  void rotate_key();
  /// The endorsements the JWKS lists for its key (default {"msteams", "webchat"}).
  void set_endorsements(std::vector<std::string> endorsements);
  std::size_t metadata_requests() const;
  std::size_t jwks_requests() const;
  /// The OpenID metadata on a second listener that serves only the metadata
  /// and the JWKS it names (counted like the others, scripted by fail_next
  /// like the others); point openid_metadata_url here to use hold_keys().
  std::string held_metadata_url() const;
  /// From now on the second listener's requests are counted on arrival but
  /// not answered (the peer hangs, as a stalled login.botframework.com would)
  /// until release_keys() or this fake's destruction.
  void hold_keys();
  void release_keys();

  // --- token endpoint ---
  void set_token_lifetime(std::chrono::seconds expires_in);  ///< default 3600
  /// Every token issued so far is refused from now on (401).
  void revoke_tokens();
  std::vector<TokenRequestRecord> token_requests() const;

  /// Answers to requests whose target (as sent or percent-decoded) starts with `target_prefix`
  /// ("/teams/" for the Bot Connector, "/v1.0/" for Graph, "/<tenant>/" for
  /// tokens) wait this long first (per connection, so concurrent requests
  /// wait concurrently). Zero removes the delay.
  void set_delay(std::string target_prefix, std::chrono::milliseconds delay);

  // --- Bot Connector and Graph ---
  /// The next request whose path starts with `path_prefix` is answered with
  /// `status` and Teams' error body (the token endpoint: AAD's invalid_client
  /// body for 400/401); queued. The path is tried relative to the service URL
  /// (as sent and percent-decoded: "/v3/conversations/a:1") and as the raw
  /// target ("/teams/v3/...", "/v1.0/teams/...", "/<tenant>/oauth2/...").
  /// 429 carries Retry-After: `retry_after_s` when >= 0. The OpenID metadata
  /// ("/v1/.well-known/openidconfiguration") and the JWKS ("/keys") take
  /// scripted failures too (still counted by metadata_/jwks_requests()).
  void fail_next(std::string path_prefix, int status, int retry_after_s = 1);
  /// Whether Bot Connector calls need a bot token (default true). Off, like
  /// Microsoft 365 Agents Playground's connector, calls without one are served.
  void set_require_auth(bool on);
  /// As the Agents Playground does (default off): POST .../activities with a
  /// text and attachments records two activities (the text, then the rest)
  /// and answers 202 with no body; PUT of such an activity answers 400
  /// BadSyntax "Activity resulted into multiple skype activities".
  void set_split_text_and_cards(bool on);
  /// A channel that exists (so the bot may post at its root), e.g. "19:general@thread.tacv2".
  void add_channel(std::string channel_id);
  /// A team for Graph and GET /v3/teams/{team_id}: its M365 group id.
  void add_team(std::string team_id, std::string group_id, std::string name = "SRE");
  /// A user the roster knows: GET /v3/conversations/{any}/members/{user_id}.
  void add_member(std::string user_id, std::string aad_object_id, std::string email, std::string name = "");

  std::vector<ConnectorCall> connector_calls() const;
  std::vector<FakeTeamsActivity> activities(std::string_view conversation_id = {}) const;
  std::optional<FakeTeamsActivity> activity(std::string_view conversation_id, std::string_view id) const;
  std::vector<FakeTeamsConversation> conversations() const;
  std::vector<FakeGraphChannel> graph_channels() const;
  std::vector<RecordedRequest> graph_requests() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
  HttpPeer peer_;
  HttpPeer keys_peer_;  ///< the metadata and JWKS for held_metadata_url()
};

}  // namespace baton::test
