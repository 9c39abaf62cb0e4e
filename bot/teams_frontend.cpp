#include "bot/teams_frontend.hpp"

#include <spdlog/spdlog.h>

#include <thread>

#include "bot/app.hpp"
#include "bot/chat_refs.hpp"
#include "bot/commands.hpp"
#include "bot/queries.hpp"
#include "integrations/teams/activities.hpp"
#include "integrations/teams/cards.hpp"
#include "integrations/teams/connector.hpp"
#include "integrations/teams/jwt.hpp"

namespace baton::bot {
namespace {

Response json_body(int status, std::string body) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

std::optional<Command> command_for_verb(std::string_view verb) {
  if (verb == "baton.ack") return Command::acknowledge;
  if (verb == "baton.resolve") return Command::resolve;
  if (verb == "baton.escalate") return Command::escalate;
  return std::nullopt;
}

void reply(const std::shared_ptr<teams::BotConnector>& connector, const teams::TeamsActivity& to, std::string text) {
  if (!connector || to.service_url.empty() || to.conversation_id.empty()) return;
  auto body = teams::text_activity(text);
  auto logged = [](auto r) {
    if (!r) spdlog::warn("teams reply failed: {}", r.error().message);
  };
  if (to.id.empty()) {
    connector->send_async(to.service_url, to.conversation_id, body, logged);
  } else {
    connector->reply_async(to.service_url, to.conversation_id, to.id, body, logged);
  }
}

int invoke_status(AnswerStatus s) {
  switch (s) {
    case AnswerStatus::done:
    case AnswerStatus::accepted: return 200;
    case AnswerStatus::usage_error: return 400;
    case AnswerStatus::refused: return 403;
    case AnswerStatus::not_found: return 404;
    case AnswerStatus::failed: return 409;
  }
  return 409;
}

/// What an activity asks, once its sender is known (on the command layer's
/// worker or the caller's thread). Holds no frontend: it may be gone by then.
void run_activity(App& app, const std::shared_ptr<teams::BotConnector>& connector, const teams::TeamsActivity& a,
                  const Responder& respond, std::optional<std::string> person) {
  // Action.Execute: answered in this response with the refreshed card.
  if (a.type == "invoke") {
    auto command = command_for_verb(a.action_verb);
    if (!command || !a.incident)
      return respond(json_body(200, teams::invoke_message(400, "This action is not one of baton's.")));
    return app.commands().act(*a.incident, *command, person.value_or(""), engine::Source::teams,
                              [&app, respond](CommandAnswer r) {
                                if (r.status != AnswerStatus::done || !r.incident)
                                  return respond(json_body(200, teams::invoke_message(invoke_status(r.status), r.text())));
                                auto c = app.config();
                                const auto* svc = c->directory->service(r.incident->service_id);
                                const auto* owner = c->directory->person(r.incident->owner);
                                auto card = teams::incident_card(*r.incident, svc ? svc->name : r.incident->service_id,
                                                                 owner ? owner->name : r.incident->owner,
                                                                 c->server.public_url);
                                respond(json_body(200, teams::invoke_response(card)));
                              });
  }
  // A message: already answered 200; what follows goes out as replies.
  auto answer = [connector, a](CommandAnswer r) { reply(connector, a, r.text()); };
  // Action.Submit (the fallback for clients without Universal Actions).
  if (!a.action_verb.empty()) {
    auto command = command_for_verb(a.action_verb);
    if (!command || !a.incident) return reply(connector, a, "This action is not one of baton's.");
    return app.commands().act(*a.incident, *command, person.value_or(""), engine::Source::teams, answer);
  }
  // Typed text (the bot's @mention removed): the one grammar.
  CommandContext ctx;
  ctx.source = engine::Source::teams;
  ctx.person = std::move(person);
  ctx.conversation = a.conversation_id;
  ctx.private_reply = a.conversation_type == "personal";  // a 1:1 chat; not a channel or a group chat
  app.commands().run_text(a.text, ctx, answer);
}

}  // namespace

struct TeamsFrontend::Life {
  explicit Life(TeamsFrontend* s) : self(s) {}
  std::mutex mutex;
  TeamsFrontend* self;  // null once the frontend is being destroyed
};

TeamsFrontend::TeamsFrontend(App& app, std::shared_ptr<teams::JwtValidator> validator,
                             std::shared_ptr<teams::BotConnector> connector)
    : app_(app),
      validator_(std::move(validator)),
      connector_(std::move(connector)),
      life_(std::make_shared<Life>(this)) {}

TeamsFrontend::~TeamsFrontend() {
  std::lock_guard lock(life_->mutex);
  life_->self = nullptr;
}

void TeamsFrontend::handle(const Request& request, Responder respond) {
  auto cfg = app_.config();
  auto activity = teams::parse_activity(request.body, cfg->teams.app_id);
  if (!activity) return respond(json_error(400, activity.error().message));
  if (!validator_) {
    // Unauthenticated local development: only activities from a loopback
    // connector, so a forged one cannot send baton's replies anywhere else.
    if (!activity->service_url.empty() && !teams::detail::is_loopback_url(activity->service_url)) {
      app_.count_rejected("teams");
      return respond(json_error(401, "teams.allow_unauthenticated accepts only a loopback serviceUrl"));
    }
    return checked(std::move(*activity), std::move(respond), {});
  }
  const auto caller = std::this_thread::get_id();
  const std::string service_url = activity->service_url;
  const std::string channel = activity->bf_channel;
  validator_->validate_async(
      request.header("authorization").value_or(""), service_url, channel,
      [this, life = life_, caller, a = std::move(*activity), respond = std::move(respond)](Result<void> verdict) mutable {
        if (std::this_thread::get_id() == caller) return checked(std::move(a), std::move(respond), std::move(verdict));
        // Later, on the validator's fetch thread: hand over to our worker at once.
        std::lock_guard lock(life->mutex);
        if (!life->self) return respond(json_error(503, "baton is shutting down"));
        life->self->background_.post(
            [self = life->self, a = std::move(a), respond = std::move(respond), verdict = std::move(verdict)]() mutable {
              self->checked(std::move(a), std::move(respond), std::move(verdict));
            });
      });
}

void TeamsFrontend::checked(teams::TeamsActivity a, Responder respond, Result<void> verdict) {
  if (!verdict) {
    app_.count_rejected("teams");
    return respond(json_error(401, verdict.error().message));
  }
  // Teams opens 1:1 chats only by this id: learn it from every activity.
  app_.chat_refs().remember_teams_user(a.from_aad_object_id, a.from_id);

  if (a.type == "conversationUpdate" || a.type == "installationUpdate") {
    // Remember where baton lives, so admins can look the channel ids up.
    if (a.bot_added && !a.team_id.empty()) {
      spdlog::info("teams: baton was added to team {}", a.team_id);
      app_.chat_refs().remember_teams_channel(a.team_id, a.channel_id.empty() ? a.team_id : a.channel_id, a.service_url);
    }
    for (const auto& ch : a.channels_added) {
      spdlog::info("teams: channel {} created in team {}", ch, a.team_id);
      app_.chat_refs().remember_teams_channel(a.team_id, ch, a.service_url);
    }
    return respond(json_body(200, "{}"));
  }
  if (a.type == "invoke" && a.invoke_name != "adaptiveCard/action") return respond(json_body(200, "{}"));
  if (a.type != "invoke" && a.type != "message") return respond(json_body(200, "{}"));
  if (a.type == "message") {
    respond(json_body(200, "{}"));  // the answer goes out as a reply through the connector
    respond = [](Response) {};
  }

  // Who sends it: the config's teams_user_id, else the roster's email (a
  // non-blocking look-up through the connector, cached by Identities).
  const std::string key = a.from_aad_object_id.empty() ? a.from_id : a.from_aad_object_id;
  EmailLookup roster;
  if (connector_ && !a.conversation_id.empty() && !key.empty())
    roster = [connector = connector_, url = a.service_url, conversation = a.conversation_id,
              member = a.from_id](std::function<void(Result<std::string>)> done) {
      connector->member_email_async(url, conversation, member, std::move(done));
    };
  auto activity = std::make_shared<const teams::TeamsActivity>(std::move(a));
  app_.commands().identities().resolve(
      ChannelUser{engine::Source::teams, key, {}}, std::move(roster),
      [app = &app_, connector = connector_, activity, respond = std::move(respond)](std::optional<std::string> person) {
        run_activity(*app, connector, *activity, respond, std::move(person));
      });
}

}  // namespace baton::bot
