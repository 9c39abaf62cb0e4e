#pragma once
// The heartbeat and maintenance-window routes (README, "HTTP API"): thin
// handlers in front of Incidents, called by the router in bot/api.cpp.
#include <string>
#include <string_view>

#include "bot/http_types.hpp"

namespace baton::bot {

class App;

/// GET or POST /api/v1/heartbeats/{key}: a beat. The key is the credential (no
/// Bearer token). 200 {"status":"ok","service","heartbeat","resolved"} once
/// committed (202 "queued" on an instance that does not run the engine); 404
/// for an unknown key, and nothing changes.
void heartbeat_route(App& app, std::string key, const Request& req, Responder respond);

/// /api/v1/services/{id}/maintenance[/{window}] (Bearer; `rest` is what follows
/// "/api/v1/services/"): GET lists the service's maintenance (in force now, its
/// one-off windows, its configured weekly ones); POST {"until", "reason"}
/// starts a window (201 with it); DELETE ends the one-off windows in force, or
/// the one named, early (200 with them).
void maintenance_route(App& app, const std::string& token_name, std::string_view rest, const Request& req,
                       Responder respond);

}  // namespace baton::bot
