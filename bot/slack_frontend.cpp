#include "bot/slack_frontend.hpp"

#include <boost/json.hpp>
#include <algorithm>
#include <charconv>

#include <spdlog/spdlog.h>

#include "bot/app.hpp"
#include "bot/queries.hpp"
#include "bot/slack_socket_mode.hpp"
#include "integrations/slack/blocks.hpp"
#include "integrations/slack/channel_lines.hpp"
#include "integrations/slack/web_api.hpp"

namespace baton::bot {
namespace {

namespace json = boost::json;
using Kind = slack::SlashCommand::Kind;
using slack::escape_mrkdwn;

std::string incident_line(const engine::Incident& i) {
  return "#" + std::to_string(i.number) + "  *" + engine::to_string(i.state) + "*  " + engine::to_string(i.severity) +
         "  " + escape_mrkdwn(i.service_id) + ": " + escape_mrkdwn(i.summary) +
         (i.owner.empty() ? std::string() : "  (owner " + escape_mrkdwn(i.owner) + ")");
}

const char* past_tense(int command) {
  switch (static_cast<Command>(command)) {
    case Command::acknowledge: return "acknowledged";
    case Command::resolve: return "resolved";
    case Command::escalate: return "escalated";
  }
  return "updated";
}

}  // namespace

std::string ephemeral(std::string_view text) {
  return json::serialize(json::object{{"response_type", "ephemeral"}, {"text", text}});
}

// Network callbacks hold this, never the frontend: they hand their results to
// the worker through `worker`, which is null once the frontend is going.
struct SlackFrontend::Shared {
  std::mutex mutex;
  Background* worker = nullptr;

  /// False (and `task` dropped) once the frontend is going.
  bool post(std::function<void()> task) {
    std::lock_guard lock(mutex);
    if (worker == nullptr) return false;
    worker->post(std::move(task));
    return true;
  }
};

SlackFrontend::SlackFrontend(App& app, std::shared_ptr<const slack::SlackWebApi> api,
                             std::shared_ptr<const slack::SlackWebApi> lookup_api)
    : app_(app),
      api_(std::move(api)),
      lookup_api_(lookup_api ? std::move(lookup_api) : api_),
      shared_(std::make_shared<Shared>()) {
  shared_->worker = &worker_;
  if (!api_) return;
  lines_ = std::make_unique<slack::ChannelLines>(api_, app_.clock());
  // Problems the Slack notifier meets in a channel (not_in_channel...) go to the incident's timeline.
  api_->workspace().set_note_sink([&app](std::int64_t incident, std::string text) {
    app.incidents().note(incident, std::move(text), engine::Actor{"slack", engine::Source::slack});
  });
}

SlackFrontend::~SlackFrontend() {
  if (api_) api_->workspace().set_note_sink({});
  std::lock_guard lock(shared_->mutex);
  shared_->worker = nullptr;  // later answers are dropped; worker_ then runs what it has
}

namespace {
constexpr auto kFoundFor = std::chrono::hours(1);
constexpr auto kNotFoundFor = std::chrono::minutes(5);
constexpr auto kFailedFor = std::chrono::seconds(30);
}  // namespace

std::optional<std::optional<std::string>> SlackFrontend::known_person(const std::string& slack_user) {
  if (slack_user.empty()) return std::optional<std::string>{};
  auto cfg = app_.config();
  for (const auto& [id, p] : cfg->directory->people)
    if (p.slack_user_id == slack_user) return std::optional<std::string>{id};
  if (!lookup_api_) return std::optional<std::string>{};
  const auto now = app_.clock().now();
  std::lock_guard lock(mutex_);
  if (auto it = people_.find(slack_user); it != people_.end() && now < it->second.expires) return it->second.person;
  return std::nullopt;
}

std::optional<std::string> SlackFrontend::person_of(const std::string& slack_user) {
  return known_person(slack_user).value_or(std::nullopt);
}

void SlackFrontend::resolve_person(const std::string& slack_user, std::function<void(std::optional<std::string>)> done) {
  if (auto known = known_person(slack_user)) return done(*known);
  {
    std::lock_guard lock(mutex_);
    auto& waiting = lookups_in_flight_[slack_user];
    waiting.push_back(std::move(done));
    if (waiting.size() > 1) return;  // a lookup for this user is on its way
  }
  // `this` is used only on the worker, which runs only while the frontend exists.
  lookup_api_->user_info_async(slack_user, [shared = shared_, this, slack_user](Result<slack::SlackUser> user) {
    shared->post([this, slack_user, user = std::move(user)] { finish_lookup(slack_user, user); });
  });
}

void SlackFrontend::finish_lookup(const std::string& slack_user, const Result<slack::SlackUser>& user) {
  std::optional<std::string> found;
  engine::Millis expires_in = kNotFoundFor;
  if (!user) {
    spdlog::warn("slack: users.info for {} failed: {}", slack_user, user.error().message);
    expires_in = kFailedFor;
  } else if (!user->email.empty()) {
    auto cfg = app_.config();
    for (const auto& [id, p] : cfg->directory->people)
      if (!p.email.empty() && p.email == user->email) found = id;
    if (found) expires_in = kFoundFor;
  }
  std::vector<std::function<void(std::optional<std::string>)>> waiting;
  {
    std::lock_guard lock(mutex_);
    people_[slack_user] = CachedPerson{found, app_.clock().now() + expires_in};
    if (auto it = lookups_in_flight_.find(slack_user); it != lookups_in_flight_.end()) {
      waiting = std::move(it->second);
      lookups_in_flight_.erase(it);
    }
    // Bounded: expired entries go once the cache is large.
    if (people_.size() > 4096) {
      const auto now = app_.clock().now();
      std::erase_if(people_, [&](const auto& kv) { return kv.second.expires <= now; });
    }
  }
  for (auto& fn : waiting) fn(found);
}

void SlackFrontend::resolve_all(std::vector<std::string> users, std::function<void()> then) {
  for (std::size_t i = 0; i < users.size(); ++i) {
    if (users[i].empty() || known_person(users[i])) continue;
    auto user = users[i];
    users.erase(users.begin(), users.begin() + static_cast<std::ptrdiff_t>(i) + 1);
    return resolve_person(user, [this, users = std::move(users), then = std::move(then)](std::optional<std::string>) mutable {
      resolve_all(std::move(users), std::move(then));
    });
  }
  then();
}

void SlackFrontend::command(const slack::SlashRequest& request, Reply reply) {
  // The people the command names are looked up first, off this thread when
  // that needs Slack (a Socket Mode ack for someone else never waits on it).
  auto cmd = slack::parse_slash_command(request.command, request.text);
  std::vector<std::string> users{request.user_id};
  if (!cmd.user_id.empty()) users.push_back(cmd.user_id);
  resolve_all(std::move(users), [this, request, cmd = std::move(cmd), reply = std::move(reply)]() mutable {
    // Off the caller's thread: the command reads the store (and Socket Mode's
    // thread must only ack).
    shared_->post([this, request = std::move(request), cmd = std::move(cmd), reply = std::move(reply)]() mutable {
      run_command(request, cmd, std::move(reply));
    });
  });
}

void SlackFrontend::run_command(const slack::SlashRequest& request, const slack::SlashCommand& cmd, Reply reply) {
  const engine::Actor actor_base{"", engine::Source::slack};
  auto need_person = [&]() -> std::optional<std::string> {
    auto person = person_of(request.user_id);
    if (!person)
      reply(ephemeral("Your Slack account is not linked to a person in baton, so nothing was done. Ask an admin to "
                      "set your slack_user_id (or the same email) in baton's configuration."));
    return person;
  };
  auto cfg = app_.config();
  switch (cmd.kind) {
    case Kind::help: return reply(ephemeral(slack::usage_text()));
    case Kind::usage_error: return reply(ephemeral(cmd.error + "\n" + slack::usage_text()));
    case Kind::oncall: {
      std::optional<std::string> schedule;
      std::vector<std::string> wanted;
      if (!cmd.target.empty()) {
        if (cfg->directory->schedule(cmd.target)) {
          wanted.push_back(cmd.target);
        } else if (const auto* svc = cfg->directory->service(cmd.target)) {
          if (const auto* pol = cfg->directory->policy(svc->escalation_policy))
            for (const auto& step : pol->steps)
              for (const auto& t : step.targets)
                if (t.kind == engine::Target::Kind::schedule) wanted.push_back(t.id);
        } else {
          return reply(ephemeral("No service or schedule called '" + cmd.target + "'."));
        }
      }
      std::string text = "*On call now*";
      for (const auto& e : app_.incidents().on_call(std::nullopt, app_.clock().now())) {
        if (!wanted.empty() && std::find(wanted.begin(), wanted.end(), e.schedule_id) == wanted.end()) continue;
        const auto* p = cfg->directory->person(e.person);
        std::string who = e.person.empty() ? "nobody" : (p && !p->slack_user_id.empty() ? "<@" + p->slack_user_id + ">"
                                                                                      : escape_mrkdwn(p ? p->name : e.person));
        text += "\n• " + escape_mrkdwn(e.schedule_name.empty() ? e.schedule_id : e.schedule_name) + ": " + who;
        if (e.until) text += " until " + engine::format_iso8601(*e.until);
      }
      return reply(ephemeral(text));
    }
    case Kind::incident_list: {
      std::string text = "*Open incidents*";
      int shown = 0;
      for (auto state : {engine::IncidentState::triggered, engine::IncidentState::acknowledged}) {
        storage::IncidentQuery q;
        q.state = state;
        q.limit = 20;
        if (auto rows = app_.queries().list_incidents(q))
          for (const auto& i : *rows) text += "\n" + incident_line(i), ++shown;
      }
      if (shown == 0) text = "No open incidents.";
      return reply(ephemeral(text));
    }
    case Kind::incident_status: {
      auto number = cmd.incident ? cmd.incident : app_.queries().incident_for_conversation(request.channel_id);
      if (!number) return reply(ephemeral("Which incident? Use `/baton incident status <number>`."));
      auto inc = app_.queries().get_incident(*number);
      if (!inc || !*inc) return reply(ephemeral("No incident #" + std::to_string(*number) + "."));
      std::string text = incident_line(**inc);
      if (auto tl = app_.queries().timeline(*number)) {
        const std::size_t from = tl->size() > 5 ? tl->size() - 5 : 0;
        for (std::size_t i = from; i < tl->size(); ++i)
          text += "\n> " + engine::format_iso8601((*tl)[i].at) + " " + escape_mrkdwn((*tl)[i].message);
      }
      return reply(ephemeral(text));
    }
    case Kind::incident_ack:
    case Kind::incident_resolve:
    case Kind::incident_escalate: {
      auto person = need_person();
      if (!person) return;
      auto number = cmd.incident ? cmd.incident : app_.queries().incident_for_conversation(request.channel_id);
      if (!number) return reply(ephemeral("Which incident? Give its number, e.g. `/baton incident ack 42`."));
      const Command c = cmd.kind == Kind::incident_ack       ? Command::acknowledge
                        : cmd.kind == Kind::incident_resolve ? Command::resolve
                                                             : Command::escalate;
      return act(*number, static_cast<int>(c), *person, std::move(reply));
    }
    case Kind::incident_reassign: {
      auto person = need_person();
      if (!person) return;
      auto target = person_of(cmd.user_id);
      if (!target) return reply(ephemeral("<@" + cmd.user_id + "> is not linked to a person in baton."));
      return app_.incidents().reassign(*cmd.incident, *target, engine::Actor{*person, engine::Source::slack},
                           [reply, n = *cmd.incident, target = *target](Result<engine::Incident> r) {
                             if (!r) return reply(ephemeral("Incident #" + std::to_string(n) + ": " + r.error().message));
                             if (is_queued(*r)) return reply(ephemeral("Incident #" + std::to_string(n) + ": accepted."));
                             reply(ephemeral("Incident #" + std::to_string(n) + " reassigned to " + target + "."));
                           });
    }
    case Kind::incident_new:
    case Kind::page: {
      auto person = need_person();
      if (!person) return;
      std::string service = cmd.service;
      if (service.empty() && !cfg->directory->services.empty()) service = cfg->directory->services.begin()->first;
      std::optional<std::string> assignee;
      if (cmd.kind == Kind::page) {
        assignee = person_of(cmd.user_id);
        if (!assignee) return reply(ephemeral("<@" + cmd.user_id + "> is not linked to a person in baton."));
      }
      const std::string summary = cmd.kind == Kind::page ? cmd.message : cmd.summary;
      return app_.incidents().create(service, summary, cmd.kind == Kind::page ? engine::Severity::critical : engine::Severity::error,
                         engine::Actor{*person, engine::Source::slack}, assignee,
                         [reply](Result<engine::Incident> r) {
                           if (!r) return reply(ephemeral("Nothing was opened: " + r.error().message));
                           if (is_queued(*r))
                             return reply(ephemeral("Accepted: the incident is being opened; its page follows."));
                           reply(ephemeral("Opened incident #" + std::to_string(r->number) + "; paging " +
                                           (r->owner.empty() ? std::string("nobody") : r->owner) + "."));
                         });
    }
  }
  (void)actor_base;
  reply(ephemeral(slack::usage_text()));
}

void SlackFrontend::button(const slack::ButtonPress& press, Reply reply) {
  std::optional<Command> c;
  if (press.action_id == slack::kAckActionId) c = Command::acknowledge;
  if (press.action_id == slack::kResolveActionId) c = Command::resolve;
  if (press.action_id == slack::kEscalateActionId) c = Command::escalate;
  std::int64_t number = 0;
  auto [p, ec] = std::from_chars(press.value.data(), press.value.data() + press.value.size(), number);
  if (!c || ec != std::errc() || p != press.value.data() + press.value.size() || number <= 0) {
    reply("");
    return follow_up(press.response_url, ephemeral("This button is not one of baton's."));
  }
  reply("");  // Slack wants its ack within 3 s; the page updates itself through chat.update
  resolve_person(press.user_id, [this, number, c = *c, url = press.response_url](std::optional<std::string> person) {
    if (!person)
      return follow_up(url, ephemeral("Your Slack account is not linked to a person in baton, so nothing was done."));
    act(number, static_cast<int>(c), *person, [this, url](std::string message) {
      if (!message.empty()) follow_up(url, std::move(message));
    });
  });
}

void SlackFrontend::act(std::int64_t number, int command, const std::string& person, Reply reply) {
  app_.incidents().command(number, static_cast<Command>(command), engine::Actor{person, engine::Source::slack},
               [reply = std::move(reply), number, command](Result<engine::Incident> r) {
                 if (!r) return reply(ephemeral("Incident #" + std::to_string(number) + ": " + r.error().message));
                 if (is_queued(*r)) return reply(ephemeral("Incident #" + std::to_string(number) + ": accepted."));
                 reply(ephemeral("Incident #" + std::to_string(number) + " " + past_tense(command) + "."));
               });
}

void SlackFrontend::post_line(std::string channel, std::string text) {
  if (lines_) lines_->post(std::move(channel), escape_mrkdwn(text));
}

void SlackFrontend::follow_up(std::string response_url, std::string message_json) {
  if (response_url.empty() || !api_) return;
  api_->post_response_url_async(std::move(response_url), std::move(message_json), [](Result<void> r) {
    if (!r) spdlog::warn("slack response_url follow-up failed: {}", r.error().message);
  });
}

}  // namespace baton::bot

namespace baton::bot {

void handle_envelope(SlackFrontend& frontend, const Envelope& envelope, AckFn ack) {
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
