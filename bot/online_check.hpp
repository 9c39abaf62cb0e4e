#pragma once
// `baton check-config --online`: checks the configured credentials and targets
// against the real services, without sending anything to anybody:
//   - Slack: auth.test (the token, and its scopes from the x-oauth-scopes
//     header), then conversations.info for each service's slack_channel (the
//     bot is a member, or the channel is public and the token has
//     chat:write.public; else posting there would be not_in_channel);
//   - Twilio: the account (GET /2010-04-01/Accounts/{sid}.json) and that each
//     sending number belongs to it (IncomingPhoneNumbers.json?PhoneNumber=);
//   - SMTP: connect, STARTTLS or implicit TLS, AUTH, QUIT (no mail);
//   - Teams: the client-credentials token request the connector makes.
// The checks run on the non-blocking clients (integrations/common/async_http,
// integrations/slack/web_api, integrations/email/smtp_client,
// integrations/teams/connector); only the CLI waits for their answers.
// Secrets never appear in the results. Asio stays in online_check.cpp.
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bot/config.hpp"

namespace boost::asio {
class io_context;
}
namespace baton::integrations {
class AsyncHttpClient;
}

namespace baton::bot {

struct OnlineCheck {
  std::string name;    ///< "slack auth.test", "slack channel C0123 (service db)", "twilio account", ...
  bool ok = false;
  std::string detail;  ///< what was found, or why it failed; never a secret

  /// "<name>: ok (<detail>)" or "<name>: FAILED: <detail>".
  std::string line() const;
};

/// Starts every check that applies to `config` (enabled channels only) on
/// `http`, whose loop is `io`. `done` runs once, on a thread running `io`, with
/// the results in a stable order (Slack, Twilio, SMTP, Teams). Nothing is
/// enabled: `done` gets an empty list. `config`, `http` and `io` must outlive
/// the checks (until `done` ran).
void run_online_checks_async(std::shared_ptr<const Config> config,
                             std::shared_ptr<integrations::AsyncHttpClient> http, boost::asio::io_context& io,
                             std::function<void(std::vector<OnlineCheck>)> done);

/// For the CLI: runs the checks on a loop and thread of its own (`baton-check`)
/// and waits for them, at most `deadline`; a check still unanswered then is
/// reported as FAILED.
std::vector<OnlineCheck> run_online_checks(const Config& config,
                                           std::chrono::milliseconds deadline = std::chrono::seconds(60));

}  // namespace baton::bot
