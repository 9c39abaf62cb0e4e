// The command layer (see commands.hpp): one function per verb, each with its
// permission check, effect and answer. Runs on the "baton-commands" worker.
#include "bot/commands.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "bot/app.hpp"
#include "bot/background.hpp"
#include "bot/console_auth.hpp"
#include "bot/queries.hpp"
#include "integrations/common/text.hpp"

namespace baton::bot {
using integrations::lower;
namespace {

using Done = std::function<void(CommandAnswer)>;

std::string number_text(std::int64_t n) { return "#" + std::to_string(n); }

CommandAnswer answer(Verb verb, AnswerStatus status, std::string headline) {
  CommandAnswer a;
  a.verb = verb;
  a.status = status;
  a.headline = std::move(headline);
  return a;
}

AnswerStatus status_of(const Error& e) {
  switch (e.kind) {
    case ErrorKind::not_found: return AnswerStatus::not_found;
    case ErrorKind::invalid_request: return AnswerStatus::usage_error;
    case ErrorKind::unauthorized: return AnswerStatus::refused;
    default: return AnswerStatus::failed;
  }
}

const char* past_tense(Verb verb) {
  switch (verb) {
    case Verb::ack: return "acknowledged";
    case Verb::resolve: return "resolved";
    case Verb::escalate: return "escalated";
    default: return "updated";
  }
}

Verb verb_of(bot::Command c) {
  switch (c) {
    case bot::Command::acknowledge: return Verb::ack;
    case bot::Command::resolve: return Verb::resolve;
    case bot::Command::escalate: return Verb::escalate;
  }
  return Verb::ack;
}

bot::Command command_of(Verb v) {
  return v == Verb::ack ? bot::Command::acknowledge : v == Verb::resolve ? bot::Command::resolve : bot::Command::escalate;
}

std::vector<AnswerLine> help_lines() {
  std::vector<AnswerLine> lines;
  const auto usage = integrations::command_usage();
  std::size_t from = 0;
  while (from < usage.size()) {
    auto to = usage.find('\n', from);
    if (to == std::string::npos) to = usage.size();
    lines.push_back(AnswerLine{usage.substr(from, to - from), {}, {}});
    from = to + 1;
  }
  return lines;
}

/// What a person who is not linked is told, in the channel's words.
std::string not_linked(engine::Source source) {
  switch (source) {
    case engine::Source::sms:
    case engine::Source::voice: return "This number is not registered with baton.";
    case engine::Source::slack:
      return "Your Slack account is not linked to a person in baton, so nothing was done. Ask an admin to set your "
             "slack_user_id (or the same email) in baton's configuration.";
    case engine::Source::teams:
      return "Your Teams account is not linked to a person in baton, so nothing was done. Ask an admin to set your "
             "teams_user_id (or the same email) in baton's configuration.";
    case engine::Source::email: return "Your address is not linked to a person in baton, so nothing was done.";
    default: return "You are not linked to a person in baton, so nothing was done.";
  }
}

std::string incident_text(const engine::Incident& i) {
  return number_text(i.number) + " " + engine::to_string(i.state) + " " + engine::to_string(i.severity) + " " +
         i.service_id + ": " + i.summary + (i.owner.empty() ? std::string() : " (owner " + i.owner + ")");
}

}  // namespace

const char* to_string(AnswerStatus status) {
  switch (status) {
    case AnswerStatus::done: return "done";
    case AnswerStatus::accepted: return "accepted";
    case AnswerStatus::usage_error: return "usage_error";
    case AnswerStatus::refused: return "refused";
    case AnswerStatus::not_found: return "not_found";
    case AnswerStatus::failed: return "failed";
  }
  return "failed";
}

std::string CommandAnswer::text() const {
  std::string out = headline;
  for (const auto& l : lines) {
    if (!out.empty()) out += '\n';
    out += l.text;
  }
  return out;
}

struct Commands::Impl {
  App& app;
  Identities identities;
  Background worker{"baton-commands"};  ///< last: stops first, running what was posted

  Impl(App& a) : app(a), identities(a, worker) {}
  ~Impl() { identities.close(); }

  void execute(const ParsedCommand& cmd, const CommandContext& ctx, Done done);

  // One function per verb.
  void help(Done done);
  void oncall(const ParsedCommand& cmd, Done done);
  void list(Done done);
  void status(const ParsedCommand& cmd, const CommandContext& ctx, Done done);
  void action(const ParsedCommand& cmd, const CommandContext& ctx, Done done);
  void reassign(const ParsedCommand& cmd, const CommandContext& ctx, Done done);
  void open(const ParsedCommand& cmd, const CommandContext& ctx, Done done);
  void maintenance_start(const ParsedCommand& cmd, const CommandContext& ctx, Done done);
  void maintenance_end(const ParsedCommand& cmd, const CommandContext& ctx, Done done);
  void console(const CommandContext& ctx, Done done);
  void act(std::int64_t number, Verb verb, const std::string& person, engine::Source via, Done done);

  /// A person argument: a person id, a person's email, else the channel's resolver.
  void resolve_ref(const std::string& ref, const CommandContext& ctx, std::function<void(std::optional<std::string>)> then);
  /// Services `target` covers: the service itself, those whose policy pages the
  /// schedule, or (empty target) every service. nullopt when it names nothing.
  std::optional<std::vector<std::string>> covered_services(const std::string& target, std::vector<std::string>& schedules);
};

void Commands::Impl::execute(const ParsedCommand& cmd, const CommandContext& in, Done done) {
  CommandContext ctx = in;
  if (!ctx.conversation_incident && !ctx.conversation.empty() && !cmd.incident &&
      (cmd.verb == Verb::ack || cmd.verb == Verb::resolve || cmd.verb == Verb::escalate ||
       cmd.verb == Verb::incident_status))
    ctx.conversation_incident = app.queries().incident_for_conversation(ctx.conversation);
  // Commands that change something need a linked person.
  switch (cmd.verb) {
    case Verb::ack:
    case Verb::resolve:
    case Verb::escalate:
    case Verb::reassign:
    case Verb::incident_new:
    case Verb::page:
    case Verb::maintenance_start:
    case Verb::maintenance_end:
    case Verb::console:
      if (!ctx.person || ctx.person->empty()) return done(answer(cmd.verb, AnswerStatus::refused, not_linked(ctx.source)));
      break;
    default: break;
  }
  switch (cmd.verb) {
    case Verb::help: return help(std::move(done));
    case Verb::invalid: {
      auto a = answer(cmd.verb, AnswerStatus::usage_error, cmd.error);
      a.lines = help_lines();
      return done(std::move(a));
    }
    case Verb::stop:
    case Verb::start:
      if (ctx.source == engine::Source::sms) {
        // The carrier (Twilio) itself confirms opt-out and opt-in keywords.
        spdlog::info("SMS {} from {}", cmd.verb == Verb::stop ? "opt-out" : "opt-in", ctx.person.value_or("?"));
        return done(answer(cmd.verb, AnswerStatus::done, ""));
      }
      return done(answer(cmd.verb, AnswerStatus::usage_error, "STOP and START are SMS keywords; nothing to do here."));
    case Verb::oncall: return oncall(cmd, std::move(done));
    case Verb::incident_list: return list(std::move(done));
    case Verb::incident_status: return status(cmd, ctx, std::move(done));
    case Verb::ack:
    case Verb::resolve:
    case Verb::escalate: return action(cmd, ctx, std::move(done));
    case Verb::reassign: return reassign(cmd, ctx, std::move(done));
    case Verb::incident_new:
    case Verb::page: return open(cmd, ctx, std::move(done));
    case Verb::maintenance_start: return maintenance_start(cmd, ctx, std::move(done));
    case Verb::maintenance_end: return maintenance_end(cmd, ctx, std::move(done));
    case Verb::console: return console(ctx, std::move(done));
  }
  help(std::move(done));
}

void Commands::Impl::help(Done done) {
  auto a = answer(Verb::help, AnswerStatus::done, "baton commands:");
  a.lines = help_lines();
  done(std::move(a));
}

std::optional<std::vector<std::string>> Commands::Impl::covered_services(const std::string& target,
                                                                         std::vector<std::string>& schedules) {
  auto cfg = app.config();
  const auto& dir = *cfg->directory;
  std::vector<std::string> services;
  auto schedules_of = [&](const engine::Service& svc) {
    std::vector<std::string> out;
    if (const auto* pol = dir.policy(svc.escalation_policy))
      for (const auto& step : pol->steps)
        for (const auto& t : step.targets)
          if (t.kind == engine::Target::Kind::schedule) out.push_back(t.id);
    return out;
  };
  if (target.empty()) {
    for (const auto& [id, svc] : dir.services) services.push_back(id);
    return services;
  }
  // An id first, then a name, case-insensitively ("oncall Payments").
  std::string schedule_id, service_id;
  if (dir.schedule(target)) schedule_id = target;
  else if (dir.service(target)) service_id = target;
  else {
    for (const auto& [id, s] : dir.schedules)
      if (lower(id) == lower(target) || lower(s.name) == lower(target)) schedule_id = id;
    if (schedule_id.empty())
      for (const auto& [id, s] : dir.services)
        if (lower(id) == lower(target) || lower(s.name) == lower(target)) service_id = id;
  }
  if (!schedule_id.empty()) {
    schedules.push_back(schedule_id);
    for (const auto& [id, svc] : dir.services) {
      auto own = schedules_of(svc);
      if (std::find(own.begin(), own.end(), schedule_id) != own.end()) services.push_back(id);
    }
    return services;
  }
  if (!service_id.empty()) {
    schedules = schedules_of(*dir.service(service_id));
    if (schedules.empty()) schedules.push_back("");  // a policy of people only: no schedule rows
    services.push_back(service_id);
    return services;
  }
  return std::nullopt;
}

void Commands::Impl::oncall(const ParsedCommand& cmd, Done done) {
  std::vector<std::string> wanted;
  auto services = covered_services(cmd.target, wanted);
  if (!services)
    return done(answer(Verb::oncall, AnswerStatus::not_found, "No service or schedule called '" + cmd.target + "'."));
  auto cfg = app.config();
  auto a = answer(Verb::oncall, AnswerStatus::done, "On call now");
  for (const auto& e : app.incidents().on_call(std::nullopt, app.clock().now())) {
    if (!wanted.empty() && std::find(wanted.begin(), wanted.end(), e.schedule_id) == wanted.end()) continue;
    const auto* p = cfg->directory->person(e.person);
    std::string text = (e.schedule_name.empty() ? e.schedule_id : e.schedule_name) + ": " +
                       (e.person.empty() ? std::string("nobody") : (p && !p->name.empty() ? p->name : e.person));
    if (e.until) text += " until " + engine::format_iso8601(*e.until);
    a.lines.push_back(AnswerLine{std::move(text), e.person, {}});
  }
  // A maintenance window in force: nobody is paged for that service now.
  for (const auto& id : *services) {
    auto m = app.incidents().active_maintenance(id);
    if (!m) continue;
    const auto* svc = cfg->directory->service(id);
    std::string text = "In maintenance: " + (svc && !svc->name.empty() ? svc->name : id) + " until " +
                       engine::format_iso8601(m->until) + (m->reason.empty() ? "" : " (" + m->reason + ")") +
                       "; nobody is paged for it";
    a.lines.push_back(AnswerLine{std::move(text), {}, {}});
  }
  done(std::move(a));
}

void Commands::Impl::list(Done done) {
  auto a = answer(Verb::incident_list, AnswerStatus::done, "Open incidents");
  for (auto state : {engine::IncidentState::triggered, engine::IncidentState::acknowledged}) {
    storage::IncidentQuery q;
    q.state = state;
    q.limit = 20;
    auto rows = app.queries().list_incidents(q);
    if (!rows) return done(answer(Verb::incident_list, AnswerStatus::failed, "Cannot read incidents: " + rows.error().message));
    for (const auto& i : *rows) a.lines.push_back(AnswerLine{incident_text(i), i.owner, i.number});
  }
  if (a.lines.empty()) a.headline = "No open incidents.";
  done(std::move(a));
}

void Commands::Impl::status(const ParsedCommand& cmd, const CommandContext& ctx, Done done) {
  auto number = cmd.incident ? cmd.incident : ctx.conversation_incident;
  if (!number)
    return done(answer(Verb::incident_status, AnswerStatus::usage_error,
                       "Which incident? Give its number, e.g. incident status 42."));
  auto inc = app.queries().get_incident(*number);
  if (!inc) return done(answer(Verb::incident_status, AnswerStatus::failed, inc.error().message));
  if (!*inc) return done(answer(Verb::incident_status, AnswerStatus::not_found, "No incident " + number_text(*number) + "."));
  auto a = answer(Verb::incident_status, AnswerStatus::done, incident_text(**inc));
  a.incident = **inc;
  if (auto tl = app.queries().timeline(*number)) {
    const std::size_t from = tl->size() > 5 ? tl->size() - 5 : 0;
    for (std::size_t i = from; i < tl->size(); ++i)
      a.lines.push_back(AnswerLine{engine::format_iso8601((*tl)[i].at) + " " + (*tl)[i].message, {}, *number});
  }
  done(std::move(a));
}

void Commands::Impl::action(const ParsedCommand& cmd, const CommandContext& ctx, Done done) {
  auto number = cmd.incident ? cmd.incident : ctx.conversation_incident;
  if (!number && ctx.own_page) {
    auto open = app.incidents().open_for_person(*ctx.person);
    if (cmd.verb == Verb::ack)
      std::erase_if(open, [](const engine::Incident& i) { return i.state != engine::IncidentState::triggered; });
    if (open.empty()) return done(answer(cmd.verb, AnswerStatus::not_found, "You have no open pages."));
    if (open.size() > 1) {
      std::string list;
      for (std::size_t i = 0; i < open.size() && i < 5; ++i) list += (i ? ", " : "") + number_text(open[i].number);
      return done(answer(cmd.verb, AnswerStatus::usage_error,
                         "You have " + std::to_string(open.size()) + " open pages: " + list +
                             ". Reply with the number, e.g. " + std::string(cmd.verb == Verb::ack ? "ACK" : cmd.verb == Verb::resolve ? "RESOLVE" : "ESC") +
                             " " + std::to_string(open[0].number) + "."));
    }
    number = open.front().number;
  }
  if (!number)
    return done(answer(cmd.verb, AnswerStatus::usage_error,
                       std::string("Which incident? Give its number, e.g. ") + to_string(cmd.verb) + " 42."));
  act(*number, cmd.verb, *ctx.person, ctx.source, std::move(done));
}

void Commands::Impl::act(std::int64_t number, Verb verb, const std::string& person, engine::Source via, Done done) {
  app.incidents().command(number, command_of(verb), engine::Actor{person, via},
                          [done = std::move(done), number, verb](Result<engine::Incident> r) {
                            const std::string name = "Incident " + number_text(number);
                            if (!r) return done(answer(verb, status_of(r.error()), name + ": " + r.error().message));
                            if (is_queued(*r)) return done(answer(verb, AnswerStatus::accepted, name + ": accepted."));
                            auto a = answer(verb, AnswerStatus::done, name + " " + past_tense(verb) + ".");
                            a.incident = *r;
                            done(std::move(a));
                          });
}

void Commands::Impl::resolve_ref(const std::string& ref, const CommandContext& ctx,
                                 std::function<void(std::optional<std::string>)> then) {
  {
    auto cfg = app.config();
    if (cfg->directory->person(ref)) return then(ref);
  }
  if (auto p = identities.person_by_email(ref)) return then(p);
  if (!ctx.resolve_person) return then(std::nullopt);
  // The channel's look-up may answer on another thread: continue on the worker.
  ctx.resolve_person(ref, [this, then = std::move(then)](std::optional<std::string> p) mutable {
    worker.post([then = std::move(then), p = std::move(p)] { then(p); });
  });
}

void Commands::Impl::reassign(const ParsedCommand& cmd, const CommandContext& ctx, Done done) {
  resolve_ref(cmd.person, ctx, [this, cmd, ctx, done = std::move(done)](std::optional<std::string> target) mutable {
    if (!target)
      return done(answer(Verb::reassign, AnswerStatus::not_found, cmd.person + " is not linked to a person in baton."));
    const auto n = *cmd.incident;
    app.incidents().reassign(n, *target, engine::Actor{*ctx.person, ctx.source},
                             [done = std::move(done), n, target = *target](Result<engine::Incident> r) {
                               const std::string name = "Incident " + number_text(n);
                               if (!r) return done(answer(Verb::reassign, status_of(r.error()), name + ": " + r.error().message));
                               if (is_queued(*r)) return done(answer(Verb::reassign, AnswerStatus::accepted, name + ": accepted."));
                               auto a = answer(Verb::reassign, AnswerStatus::done, name + " reassigned to " + target + ".");
                               a.incident = *r;
                               done(std::move(a));
                             });
  });
}

void Commands::Impl::open(const ParsedCommand& cmd, const CommandContext& ctx, Done done) {
  auto go = [this, cmd, ctx, done](std::optional<std::string> assignee) mutable {
    if (cmd.verb == Verb::page && !assignee)
      return done(answer(Verb::page, AnswerStatus::not_found, cmd.person + " is not linked to a person in baton."));
    auto cfg = app.config();
    std::string service = cmd.target;
    if (service.empty() && !cfg->directory->services.empty()) service = cfg->directory->services.begin()->first;
    const auto verb = cmd.verb;
    app.incidents().create(service, cmd.text, verb == Verb::page ? engine::Severity::critical : engine::Severity::error,
                           engine::Actor{*ctx.person, ctx.source}, assignee,
                           [done = std::move(done), verb](Result<engine::Incident> r) {
                             if (!r) return done(answer(verb, status_of(r.error()), "Nothing was opened: " + r.error().message));
                             if (is_queued(*r))
                               return done(answer(verb, AnswerStatus::accepted,
                                                  "Accepted: the incident is being opened; its page follows."));
                             auto a = answer(verb, AnswerStatus::done,
                                             "Opened incident " + number_text(r->number) + "; paging " +
                                                 (r->owner.empty() ? std::string("nobody") : r->owner) + ".");
                             a.incident = *r;
                             done(std::move(a));
                           });
  };
  if (cmd.verb == Verb::page) return resolve_ref(cmd.person, ctx, std::move(go));
  go(std::nullopt);
}

void Commands::Impl::maintenance_start(const ParsedCommand& cmd, const CommandContext& ctx, Done done) {
  auto cfg = app.config();
  if (!cfg->directory->service(cmd.target))
    return done(answer(Verb::maintenance_start, AnswerStatus::not_found, "No service called '" + cmd.target + "'."));
  const auto until = app.clock().now() + *cmd.duration;
  auto w = app.incidents().start_maintenance(cmd.target, until, cmd.text, engine::Actor{*ctx.person, ctx.source});
  if (!w)
    return done(answer(Verb::maintenance_start, status_of(w.error()),
                       "No maintenance window was set for " + cmd.target + ": " + w.error().message));
  const auto* svc = cfg->directory->service(cmd.target);
  auto a = answer(Verb::maintenance_start, AnswerStatus::done,
                  (svc && !svc->name.empty() ? svc->name : cmd.target) + " is in maintenance until " +
                      engine::format_iso8601(w->end) + (w->reason.empty() ? "" : " (" + w->reason + ")") +
                      ": its alerts are recorded and nobody is paged until then.");
  a.lines.push_back(AnswerLine{"End it early with: maintenance end " + cmd.target, {}, {}});
  done(std::move(a));
}

void Commands::Impl::maintenance_end(const ParsedCommand& cmd, const CommandContext& ctx, Done done) {
  auto cfg = app.config();
  if (!cfg->directory->service(cmd.target))
    return done(answer(Verb::maintenance_end, AnswerStatus::not_found, "No service called '" + cmd.target + "'."));
  auto ended = app.incidents().end_maintenance(cmd.target, std::nullopt, engine::Actor{*ctx.person, ctx.source});
  if (!ended) {
    if (ended.error().kind == ErrorKind::not_found)
      return done(answer(Verb::maintenance_end, AnswerStatus::not_found,
                         cmd.target + " has no maintenance window in force that can be ended."));
    return done(answer(Verb::maintenance_end, status_of(ended.error()),
                       "The maintenance of " + cmd.target + " was not ended: " + ended.error().message));
  }
  done(answer(Verb::maintenance_end, AnswerStatus::done,
              "Maintenance of " + cmd.target + " ended; incidents still open are paged now."));
}

void Commands::Impl::console(const CommandContext& ctx, Done done) {
  if (!ctx.private_reply)
    return done(answer(Verb::console, AnswerStatus::refused,
                       "The console link signs you in, so it is only sent privately: ask baton in a direct message."));
  auto link = console_link(app, *ctx.person);
  if (!link)
    return done(answer(Verb::console, status_of(link.error()), "No console link: " + link.error().message));
  auto a = answer(Verb::console, AnswerStatus::done, "Your one-time sign-in link to the baton console:");
  a.lines.push_back(AnswerLine{*link, {}, {}});
  a.lines.push_back(AnswerLine{"It works once, within 10 minutes. Do not share it.", {}, {}});
  a.private_only = true;
  done(std::move(a));
}

Commands::Commands(App& app) : impl_(std::make_unique<Impl>(app)) {}

Commands::~Commands() = default;

void Commands::run(const ParsedCommand& command, const CommandContext& context, std::function<void(CommandAnswer)> done) {
  impl_->worker.post([impl = impl_.get(), command, context, done = std::move(done)]() mutable {
    impl->execute(command, context, std::move(done));
  });
}

void Commands::run_text(std::string_view text, const CommandContext& context, std::function<void(CommandAnswer)> done) {
  run(parse_command(text), context, std::move(done));
}

void Commands::act(std::int64_t number, bot::Command action, const std::string& person, engine::Source via,
                   std::function<void(CommandAnswer)> done) {
  ParsedCommand cmd;
  cmd.verb = verb_of(action);
  cmd.incident = number;
  CommandContext ctx;
  ctx.source = via;
  if (!person.empty()) ctx.person = person;
  run(cmd, ctx, std::move(done));
}

Identities& Commands::identities() { return impl_->identities; }

std::string Commands::help_text(std::string_view prefix) { return integrations::command_usage(prefix); }

}  // namespace baton::bot
