#pragma once
// GET /api/v1/reports/response (docs/reports.md): response analytics from the
// timeline, called by the router in bot/api.cpp. Every instance answers from
// the database (app.queries()), owner or not.
#include <string>

#include "bot/http_types.hpp"
#include "engine/result.hpp"
#include "storage/reports.hpp"

namespace baton::bot {

class App;
struct Config;

/// The route (Bearer already checked by the router): 200 with the report;
/// 400 for a bad from/to/tz or a range over 400 days; 404 for a service or
/// person not in the configuration; 405 for anything but GET; 503 when the
/// database cannot be read.
void report_route(App& app, const Request& req, Responder respond);

/// The query of a request's parameters against `cfg` at `now` (defaults:
/// to = now, from = to - 30 days): invalid_request / not_found as above.
Result<storage::ReportQuery> report_query(const Request& req, const Config& cfg, engine::TimePoint now);

/// The JSON document of docs/reports.md.
std::string report_json(const storage::ResponseReport& report, const storage::ReportQuery& q, const Config& cfg,
                        engine::TimePoint generated_at);

}  // namespace baton::bot
