#pragma once
// Microsoft Graph for one channel per incident (Microsoft Graph, learn.microsoft.com/graph/api/channel-post): create
// a standard channel in a team, and name it within Teams' rules. JSON stays in
// graph.cpp.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "engine/result.hpp"
#include "integrations/teams/connector.hpp"
#include "integrations/teams/teams_config.hpp"

namespace baton::teams {

/// A channel display name for incident `number`: "INC-42 db-primary down".
/// Teams' rules (A5): at most 50 characters (code points); none of
/// ~ # % & * { } + / \ : < > ? | ' " , . nor control characters (U+0000-001F,
/// U+007F-009F) — each becomes a space, runs of spaces collapse; never a
/// leading '_' or '.', never a trailing '.'. Invalid UTF-8 bytes are dropped.
/// attempt > 0 appends " (attempt+1)", e.g. attempt 1 -> " (2)", kept within
/// the 50 by shortening the summary.
std::string teams_channel_name(std::int64_t number, std::string_view summary, int attempt = 0);

/// Channel creation through Microsoft Graph
/// (https://learn.microsoft.com/graph/api/channel-post) on the non-blocking
/// AsyncHttpClient (key "teams-graph"). Thread-safe; callbacks may outlive the client.
class GraphClient {
 public:
  using Done = std::function<void(Result<std::string>)>;

  /// std::invalid_argument without `tokens` or `http`.
  GraphClient(TeamsConfig config, std::shared_ptr<TokenProvider> tokens,
              std::shared_ptr<integrations::AsyncHttpClient> http);

  /// POST {graph_base}/teams/{team_id}/channels {displayName, description,
  /// membershipType:"standard"} with the Graph token; `team_id` is the M365
  /// group id. Gives the new channel's id ("19:...@thread.tacv2"), which is
  /// also its Bot Connector conversation id. A taken name (409, or any status
  /// with code nameAlreadyExists) is `conflict`: retry with the next attempt's
  /// name. Other errors as classify_teams(); a 401 refetches the token once.
  /// Never blocks; `done` runs once, on the client's thread.
  void create_channel_async(std::string_view team_id, std::string_view display_name, std::string_view description,
                            Done done);
  /// The blocking form (tests and tools only, never on the client's thread).
  Result<std::string> create_channel(std::string_view team_id, std::string_view display_name,
                                     std::string_view description);

  struct Shared;  ///< opaque: shared with callbacks in flight

 private:
  std::shared_ptr<const Shared> shared_;
};

}  // namespace baton::teams
