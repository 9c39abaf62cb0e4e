#pragma once
// The web console's routes (docs/console.md): its static files, embedded in
// the binary at build time (bot/console_embed.cmake), at `/` and
// `/console/...`; sign-in with a one-time link (`/console/login/<token>`), the
// session (`/console/session`, `/console/logout`); and the console's own API:
// GET /api/v1/schedules/{id}/timeline. Thin handlers over bot/console_auth.hpp
// and the engine's pure on-call code; no Beast here. Called on `baton-http`.
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "bot/http_types.hpp"

namespace baton::bot {

class App;

/// One embedded file: its path under bot/console/ ("index.html", "app.js").
struct ConsoleAsset {
  std::string_view path;
  std::string_view bytes;
};
/// Every file of bot/console/ (generated at build time).
std::span<const ConsoleAsset> console_assets();

/// True for the paths console_route answers: "/", "/console" and "/console/...".
bool is_console_path(std::string_view path);
/// Answers a console path (static files, sign-in, session, sign-out).
void console_route(App& app, Request&& req, Responder respond);

/// GET /api/v1/schedules/{id}/timeline?from=&to=: the final schedule, each
/// layer's own shifts and the overrides over [from, to) (default: now, 14
/// days; at most 62 days), instants in UTC for the viewer to draw in any zone.
/// The caller has authenticated the request.
void schedule_timeline(App& app, const std::string& schedule, const Request& req, Responder respond);

/// `res` with a strong ETag of its body and `Cache-Control: private, no-cache`;
/// 304 with no body when `req`'s If-None-Match names it (polling for changes).
Response with_etag(const Request& req, Response res);

}  // namespace baton::bot
