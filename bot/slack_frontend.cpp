#include "bot/slack_frontend.hpp"

#include <boost/json.hpp>
#include <charconv>

#include <spdlog/spdlog.h>

#include "bot/app.hpp"
#include "bot/commands.hpp"
#include "integrations/slack/blocks.hpp"
#include "integrations/slack/channel_lines.hpp"
#include "integrations/slack/socket_mode.hpp"
#include "integrations/slack/web_api.hpp"

namespace baton::bot {
namespace {

namespace json = boost::json;
using slack::escape_mrkdwn;

/// Follow-ups go through the Web API client, held by the callback (not the frontend).
void follow_up(const std::shared_ptr<const slack::SlackWebApi>& api, std::string response_url, std::string message_json) {
  if (response_url.empty() || !api) return;
  api->post_response_url_async(std::move(response_url), std::move(message_json), [](Result<void> r) {
    if (!r) spdlog::warn("slack response_url follow-up failed: {}", r.error().message);
  });
}

/// users.info as the identity look-up: the user's email.
EmailLookup users_info(std::shared_ptr<const slack::SlackWebApi> api, std::string user) {
  if (!api) return nullptr;
  return [api = std::move(api), user = std::move(user)](std::function<void(Result<std::string>)> done) {
    api->user_info_async(user, [done = std::move(done)](Result<slack::SlackUser> u) {
      if (!u) return done(tl::unexpected(u.error()));
      done(u->email);
    });
  };
}

}  // namespace

std::string ephemeral(std::string_view text) {
  return json::serialize(json::object{{"response_type", "ephemeral"}, {"text", text}});
}

std::string slack_text(const App& app, const CommandAnswer& a) {
  if (a.verb == Verb::help) return slack::usage_text();
  if (a.verb == Verb::invalid) return escape_mrkdwn(a.headline) + "\n" + slack::usage_text();
  auto cfg = app.config();
  const bool listing = a.verb == Verb::oncall || a.verb == Verb::incident_list;
  std::string out = listing && !a.lines.empty() ? "*" + escape_mrkdwn(a.headline) + "*" : escape_mrkdwn(a.headline);
  for (const auto& line : a.lines) {
    std::string text = escape_mrkdwn(line.text);
    // The person a line names, as a mention when Slack knows them.
    if (const auto* p = line.person.empty() ? nullptr : cfg->directory->person(line.person);
        p && !p->slack_user_id.empty()) {
      const auto name = escape_mrkdwn(p->name.empty() ? p->id : p->name);
      if (auto at = text.find(": " + name); at != std::string::npos)
        text.replace(at + 2, name.size(), "<@" + p->slack_user_id + ">");
    }
    if (!out.empty()) out += "\n";
    out += (listing ? "• " : a.verb == Verb::incident_status ? "> " : "") + text;
  }
  return out;
}

SlackFrontend::SlackFrontend(App& app, std::shared_ptr<const slack::SlackWebApi> api,
                             std::shared_ptr<const slack::SlackWebApi> lookup_api)
    : app_(app), api_(std::move(api)), lookup_api_(lookup_api ? std::move(lookup_api) : api_) {
  if (!api_) return;
  lines_ = std::make_unique<slack::ChannelLines>(api_, app_.clock());
  // Problems the Slack notifier meets in a channel (not_in_channel...) go to the incident's timeline.
  api_->workspace().set_note_sink([&app](std::int64_t incident, std::string text) {
    app.incidents().note(incident, std::move(text), engine::Actor{"slack", engine::Source::slack});
  });
}

SlackFrontend::~SlackFrontend() {
  if (api_) api_->workspace().set_note_sink({});
}

void SlackFrontend::resolve(const std::string& slack_user, std::function<void(std::optional<std::string>)> then) {
  app_.commands().identities().resolve(ChannelUser{engine::Source::slack, slack_user, {}},
                                       users_info(lookup_api_, slack_user), std::move(then));
}

void SlackFrontend::command(const slack::SlashRequest& request, Reply reply) {
  auto text = slack::command_text(request.command, request.text);
  if (!text)
    return reply(ephemeral("Unknown command '" + escape_mrkdwn(request.command) + "'; use /baton.\n" +
                           slack::usage_text()));
  // Who asks is looked up first, off this thread when that needs Slack (a
  // Socket Mode ack for someone else never waits on it).
  // The callback may run after this frontend is gone: it holds the App and the client only.
  resolve(request.user_id, [app = &app_, lookup_api = lookup_api_, request, text = std::move(*text),
                            reply = std::move(reply)](std::optional<std::string> person) mutable {
    CommandContext ctx;
    ctx.source = engine::Source::slack;
    ctx.person = std::move(person);
    ctx.conversation = request.channel_id;
    ctx.private_reply = true;  // answered ephemeral: only the asker sees it
    // Mentions ("<@U123>") are Slack users: the same identity rules.
    ctx.resolve_person = [&identities = app->commands().identities(), api = lookup_api](
                             const std::string& ref, std::function<void(std::optional<std::string>)> done) {
      if (!ref.starts_with("<@") || !ref.ends_with(">")) return done(std::nullopt);
      const std::string user = ref.substr(2, ref.size() - 3);
      identities.resolve(ChannelUser{engine::Source::slack, user, {}}, users_info(api, user), std::move(done));
    };
    app->commands().run_text(text, ctx, [app, reply = std::move(reply)](CommandAnswer answer) {
      reply(ephemeral(slack_text(*app, answer)));
    });
  });
}

void SlackFrontend::button(const slack::ButtonPress& press, Reply reply) {
  std::optional<Command> c;
  if (press.action_id == slack::kAckActionId) c = Command::acknowledge;
  if (press.action_id == slack::kResolveActionId) c = Command::resolve;
  if (press.action_id == slack::kEscalateActionId) c = Command::escalate;
  std::int64_t number = 0;
  auto [p, ec] = std::from_chars(press.value.data(), press.value.data() + press.value.size(), number);
  reply("");  // Slack wants its ack within 3 s; the page updates itself through chat.update
  if (!c || ec != std::errc() || p != press.value.data() + press.value.size() || number <= 0)
    return follow_up(api_, press.response_url, ephemeral("This button is not one of baton's."));
  resolve(press.user_id, [app = &app_, api = api_, number, c = *c, url = press.response_url](
                             std::optional<std::string> person) {
    app->commands().act(number, c, person.value_or(""), engine::Source::slack,
                        [app, api, url](CommandAnswer answer) {
                          follow_up(api, url, ephemeral(slack_text(*app, answer)));
                        });
  });
}

void SlackFrontend::post_line(std::string channel, std::string text) {
  if (lines_) lines_->post(std::move(channel), escape_mrkdwn(text));
}

void handle_envelope(SlackFrontend& frontend, const slack::Envelope& envelope, AckFn ack) {
  if (envelope.type == "slash_commands") {
    auto req = slack::parse_slash_json(envelope.payload_json);
    if (!req) return ack(ephemeral("baton could not read this command: " + req.error().message));
    return frontend.command(*req, [ack](std::string message) {
      if (message.empty()) return ack(std::nullopt);
      ack(std::move(message));
    });
  }
  if (envelope.type == "interactive") {
    auto press = slack::parse_block_actions(envelope.payload_json);
    if (!press) return ack(std::nullopt);  // other interaction kinds are not baton's
    return frontend.button(*press, [ack](std::string) { ack(std::nullopt); });
  }
  ack(std::nullopt);  // events: nothing to do yet beyond acknowledging
}

}  // namespace baton::bot
