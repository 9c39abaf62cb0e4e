#include "bot/teams_frontend.hpp"

#include <spdlog/spdlog.h>

#include <thread>

#include "bot/app.hpp"
#include "bot/chat_refs.hpp"
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

const char* past_tense(Command c) {
  switch (c) {
    case Command::acknowledge: return "acknowledged";
    case Command::resolve: return "resolved";
    case Command::escalate: return "escalated";
  }
  return "updated";
}

}  // namespace

struct TeamsFrontend::Life {
  explicit Life(TeamsFrontend* s) : self(s) {}
  std::mutex mutex;
  TeamsFrontend* self;  // null once the frontend is being destroyed
  std::map<std::string, std::vector<PersonDone>> lookups;  // AAD object id -> waiting for its roster lookup
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

std::optional<std::optional<std::string>> TeamsFrontend::known_person(const teams::TeamsActivity& a) {
  auto cfg = app_.config();
  if (!a.from_aad_object_id.empty())
    for (const auto& [id, p] : cfg->directory->people)
      if (!p.teams_user_id.empty() && p.teams_user_id == a.from_aad_object_id) return std::optional<std::string>(id);
  const std::string key = a.from_aad_object_id.empty() ? a.from_id : a.from_aad_object_id;
  if (key.empty() || !connector_ || a.conversation_id.empty()) return std::optional<std::string>();
  std::lock_guard lock(mutex_);
  if (auto it = by_email_.find(key); it != by_email_.end() && app_.clock().now() < it->second.expires)
    return it->second.person;
  return std::nullopt;
}

void TeamsFrontend::lookup_person(const teams::TeamsActivity& a, PersonDone done) {
  const std::string key = a.from_aad_object_id.empty() ? a.from_id : a.from_aad_object_id;
  {
    std::lock_guard lock(life_->mutex);
    auto [it, first] = life_->lookups.try_emplace(key);
    if (!first && it->second.size() >= kMaxLookupWaiters) return done(true, std::nullopt);
    it->second.push_back(std::move(done));
    if (!first) return;  // one lookup per user in flight: this one waits for its answer
  }
  connector_->member_email_async(
      a.service_url, a.conversation_id, a.from_id, [life = life_, key, from = a.from_id](Result<std::string> email) {
        std::lock_guard alive(life->mutex);
        std::vector<PersonDone> waiters;
        if (auto it = life->lookups.find(key); it != life->lookups.end()) {
          waiters = std::move(it->second);
          life->lookups.erase(it);
        }
        auto* self = life->self;
        if (!self) {
          for (auto& w : waiters) w(false, std::nullopt);
          return;
        }
        auto cfg = self->app_.config();
        std::optional<std::string> found;
        if (email) {
          auto lower = [](std::string v) {
            for (auto& c : v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            return v;
          };
          for (const auto& [id, p] : cfg->directory->people)
            if (!p.email.empty() && lower(p.email) == lower(*email)) found = id;
        } else {
          spdlog::warn("teams: roster lookup for {} failed: {}", from, email.error().message);
        }
        // A miss or a failure is asked again after a while: the roster, the
        // directory or the connector may have changed by then.
        const auto now = self->app_.clock().now();
        {
          std::lock_guard lock(self->mutex_);
          auto& cache = self->by_email_;
          if (cache.size() >= 4096) std::erase_if(cache, [&](const auto& e) { return e.second.expires <= now; });
          cache[key] = Lookup{found, now + (found ? kPositiveLookupTtl : kNegativeLookupTtl)};
        }
        for (auto& w : waiters) w(true, found);
      });
}

void TeamsFrontend::reply(const teams::TeamsActivity& to, std::string text) {
  if (!connector_ || to.service_url.empty() || to.conversation_id.empty()) return;
  auto body = teams::text_activity(text);
  auto logged = [](auto r) {
    if (!r) spdlog::warn("teams reply failed: {}", r.error().message);
  };
  if (to.id.empty()) {
    connector_->send_async(to.service_url, to.conversation_id, body, logged);
  } else {
    connector_->reply_async(to.service_url, to.conversation_id, to.id, body, logged);
  }
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

  if (auto known = known_person(a)) return act(a, respond, *known);
  // The roster is a network call: its answer continues on the worker thread
  // (the connector's callback runs on a network thread and must stay short).
  auto activity = std::make_shared<const teams::TeamsActivity>(std::move(a));
  lookup_person(*activity, [this, activity, respond = std::move(respond)](bool alive,
                                                                         std::optional<std::string> person) mutable {
    if (!alive) return respond(json_error(503, "baton is shutting down"));
    background_.post([this, activity, respond = std::move(respond), person = std::move(person)] {
      act(*activity, respond, person);
    });
  });
}

void TeamsFrontend::act(const teams::TeamsActivity& a, const Responder& respond, const std::optional<std::string>& person) {
  // Action.Execute: answered in this response with the refreshed card.
  if (a.type == "invoke") {
    auto command = command_for_verb(a.action_verb);
    if (!command || !a.incident)
      return respond(json_body(200, teams::invoke_message(400, "This action is not one of baton's.")));
    if (!person)
      return respond(json_body(200, teams::invoke_message(
                                        403, "Your Teams account is not linked to a person in baton; nothing was done.")));
    return app_.incidents().command(*a.incident, *command, engine::Actor{*person, engine::Source::teams},
                        [this, respond, n = *a.incident](Result<engine::Incident> r) {
                          if (!r) return respond(json_body(200, teams::invoke_message(
                                                                    409, "Incident #" + std::to_string(n) + ": " +
                                                                             r.error().message)));
                          if (is_queued(*r))
                            return respond(json_body(200, teams::invoke_message(
                                                              200, "Incident #" + std::to_string(n) + ": accepted.")));
                          auto c = app_.config();
                          const auto* svc = c->directory->service(r->service_id);
                          const auto* owner = c->directory->person(r->owner);
                          auto card = teams::incident_card(*r, svc ? svc->name : r->service_id,
                                                           owner ? owner->name : r->owner, c->server.public_url);
                          respond(json_body(200, teams::invoke_response(card)));
                        });
  }

  // A message: already answered 200; what follows goes out as replies.
  // Action.Submit (the fallback for clients without Universal Actions).
  if (!a.action_verb.empty()) {
    auto command = command_for_verb(a.action_verb);
    if (!command || !a.incident) return reply(a, "This action is not one of baton's.");
    if (!person) return reply(a, "Your Teams account is not linked to a person in baton, so nothing was done.");
    return app_.incidents().command(*a.incident, *command, engine::Actor{*person, engine::Source::teams},
                        [this, a, n = *a.incident, c = *command](Result<engine::Incident> r) {
                          reply(a, r ? "Incident #" + std::to_string(n) + (is_queued(*r) ? ": accepted." : " " + std::string(past_tense(c)) + ".")
                                     : "Incident #" + std::to_string(n) + ": " + r.error().message);
                        });
  }

  using Kind = teams::TeamsCommand::Kind;
  auto cmd = teams::parse_teams_command(a.text);
  switch (cmd.kind) {
    case Kind::help:
    case Kind::unknown: return reply(a, teams::teams_help_text());
    case Kind::oncall: {
      auto c = app_.config();
      std::string text = "On call now:";
      for (const auto& e : app_.incidents().on_call(std::nullopt, app_.clock().now())) {
        if (!cmd.target.empty() && cmd.target != e.schedule_id) continue;
        const auto* p = c->directory->person(e.person);
        text += "\n- " + (e.schedule_name.empty() ? e.schedule_id : e.schedule_name) + ": " +
                (e.person.empty() ? std::string("nobody") : (p ? p->name : e.person));
      }
      return reply(a, text);
    }
    case Kind::incident_list: {
      std::string text = "Open incidents:";
      int shown = 0;
      for (auto state : {engine::IncidentState::triggered, engine::IncidentState::acknowledged}) {
        storage::IncidentQuery q;
        q.state = state;
        q.limit = 20;
        if (auto rows = app_.queries().list_incidents(q))
          for (const auto& i : *rows)
            text += "\n- #" + std::to_string(i.number) + " " + engine::to_string(i.state) + " " + i.summary, ++shown;
      }
      return reply(a, shown ? text : "No open incidents.");
    }
    case Kind::ack:
    case Kind::resolve:
    case Kind::escalate: {
      if (!person) return reply(a, "Your Teams account is not linked to a person in baton, so nothing was done.");
      auto number = cmd.incident ? cmd.incident : app_.queries().incident_for_conversation(a.conversation_id);
      if (!number) return reply(a, "Which incident? Say for example: ack 42");
      const Command c = cmd.kind == Kind::ack ? Command::acknowledge
                        : cmd.kind == Kind::resolve ? Command::resolve
                                                    : Command::escalate;
      return app_.incidents().command(*number, c, engine::Actor{*person, engine::Source::teams},
                          [this, a, n = *number, c](Result<engine::Incident> r) {
                            reply(a, r ? "Incident #" + std::to_string(n) + (is_queued(*r) ? ": accepted." : " " + std::string(past_tense(c)) + ".")
                                       : "Incident #" + std::to_string(n) + ": " + r.error().message);
                          });
    }
  }
}

}  // namespace baton::bot
