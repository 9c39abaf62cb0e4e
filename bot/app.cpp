// The composition of the running service. Threads: the engine loop (one
// thread: all engine calls and its timer), the group-commit writer (one
// thread), the dispatcher workers, and the HTTP server's threads.
#include "bot/app.hpp"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <thread>
#include <deque>
#include <unordered_map>
#include <unordered_set>

#include <spdlog/spdlog.h>

#include "bot/http_server.hpp"
#include "bot/metrics.hpp"
#include "bot/slack_frontend.hpp"
#include "bot/slack_socket_mode.hpp"
#include "bot/teams_frontend.hpp"
#include "integrations/teams/connector.hpp"
#include "integrations/teams/graph.hpp"
#include "integrations/teams/jwt.hpp"
#include "integrations/teams/teams_notifier.hpp"
#include "integrations/chat_refs.hpp"
#include "integrations/common/async_http.hpp"
#include "integrations/common/utf8.hpp"
#include "integrations/slack/commands.hpp"
#include "integrations/slack/interactions.hpp"
#include "integrations/slack/slack_notifier.hpp"
#include "integrations/slack/web_api.hpp"
#include "engine/oncall.hpp"
#include "integrations/action_links.hpp"
#include "integrations/dispatcher.hpp"
#include "integrations/email/smtp_notifier.hpp"
#include "integrations/sms/http_gateway_notifier.hpp"
#include "integrations/sms/twilio_notifier.hpp"
#include "integrations/webhook/webhook_notifier.hpp"
#include "storage/group_commit.hpp"

namespace baton::bot {

namespace net = boost::asio;
using engine::TimePoint;

struct App::Impl {
  std::shared_ptr<const Config> config;
  mutable std::mutex config_mutex;
  const engine::Clock& clock;

  net::io_context loop{1};
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  std::thread loop_thread;
  net::steady_timer timer{loop};
  std::optional<TimePoint> armed_for;

  std::unique_ptr<engine::Engine> engine;  // touched on the loop thread only (after start)
  std::unique_ptr<storage::GroupCommitWriter> writer;
  std::unique_ptr<storage::Store> reader;
  std::mutex reader_mutex;
  // The non-blocking outbound client (libcurl multi) on its own loop and thread.
  net::io_context net_loop{1};
  std::optional<net::executor_work_guard<net::io_context::executor_type>> net_work;
  std::thread net_thread;
  std::shared_ptr<integrations::AsyncHttpClient> async_http;
  std::unique_ptr<integrations::Dispatcher> dispatcher;
  std::shared_ptr<const integrations::ActionSigner> signer;
  std::unique_ptr<HttpServer> server;
  std::shared_ptr<const slack::SlackWebApi> slack_api;
  std::shared_ptr<integrations::ChatRefs> slack_refs;
  bool slack_incident_channels = false;  ///< some service opens incident channels
  std::unique_ptr<SlackFrontend> slack_frontend;
  std::unique_ptr<SlackSocketMode> slack_socket;
  std::shared_ptr<teams::BotConnector> teams_connector;
  std::shared_ptr<teams::JwtValidator> teams_validator;
  std::unique_ptr<TeamsFrontend> teams_frontend;
  std::vector<storage::OutboxEntry> resume_outbox;
  std::vector<engine::Incident> resume_closed;  // incidents of outbox entries that are no longer open

  std::atomic<int> pending_commits{0};
  std::atomic<bool> started{false};
  std::atomic<bool> stopped{false};

  // A failed commit: the engine holds a change the disk does not. From then on
  // changes are refused (503) and internal events wait in `deferred`, until a
  // probe write succeeds and the engine is rebuilt from what is committed.
  std::uint64_t clock_watch = 0;  // clock.watch(): re-arm the timer when a test moves the clock
  std::atomic<bool> degraded{false};
  std::atomic<std::uint64_t> recoveries{0};
  bool recovering = false;  // loop thread
  engine::Millis probe_backoff{100};
  std::chrono::steady_clock::time_point last_probe_log{};
  net::steady_timer recovery_timer{loop};
  std::vector<std::function<void()>> deferred;  // loop thread
  std::uint64_t deferred_dropped = 0;
  Metrics metrics;

  // AAD object id -> Teams user id ("29:..."), learned from activities.
  std::mutex teams_users_mutex;
  std::map<std::string, std::string> teams_users;

  // Incidents whose pages are no longer wanted (acknowledged or resolved): the
  // dispatcher drops their queued pages and retries before the next attempt.
  // Updated once a change is committed; bounded (oldest first out).
  std::mutex quiet_mutex;
  std::unordered_set<std::int64_t> quiet;
  std::deque<std::int64_t> quiet_order;
  static constexpr std::size_t kMaxQuiet = 200'000;

  void set_quiet(std::int64_t number, bool is_quiet) {
    std::lock_guard lock(quiet_mutex);
    if (!is_quiet) {
      quiet.erase(number);
      return;
    }
    if (!quiet.insert(number).second) return;
    quiet_order.push_back(number);
    while (quiet_order.size() > kMaxQuiet) {
      quiet.erase(quiet_order.front());
      quiet_order.pop_front();
    }
  }

  bool page_wanted(const integrations::Delivery& d) {
    if (d.notification.kind != engine::NotificationKind::page) return true;
    std::lock_guard lock(quiet_mutex);
    return !quiet.contains(d.notification.incident);
  }

  // Time to first page: notification id -> when the alert that caused it arrived.
  std::mutex first_page_mutex;
  std::unordered_map<std::int64_t, std::chrono::steady_clock::time_point> first_page;

  Impl(std::shared_ptr<const Config> c, const engine::Clock& clk) : config(std::move(c)), clock(clk) {}
  ~Impl() { stop_net(); }

  /// Stops the outbound client's loop (its sends were finished or cancelled).
  void stop_net() {
    net_work.reset();
    net_loop.stop();
    if (net_thread.joinable()) net_thread.join();
  }

  template <typename F>
  void post(F&& f) {
    net::post(loop, std::forward<F>(f));
  }

  /// Runs `f` on the loop thread and waits for it (before start: inline).
  template <typename F>
  auto run_sync(F&& f) -> decltype(f()) {
    if (!started || std::this_thread::get_id() == loop_thread.get_id()) return f();
    std::packaged_task<decltype(f())()> task(std::forward<F>(f));
    auto future = task.get_future();
    post([&task] { task(); });
    return future.get();
  }

  /// The person as channels need them: a configured AAD object id is replaced
  /// by the Teams user id learned for it (Teams opens 1:1 chats by that id).
  engine::Person with_teams_id(engine::Person p) {
    if (p.teams_user_id.empty() || p.teams_user_id.starts_with("29:")) return p;
    std::lock_guard lock(teams_users_mutex);
    if (auto it = teams_users.find(p.teams_user_id); it != teams_users.end()) p.teams_user_id = it->second;
    return p;
  }

  std::vector<integrations::Delivery> deliveries_for(const engine::Effects& fx) {
    std::vector<integrations::Delivery> out;
    if (fx.notifications.empty()) return out;
    const auto& dir = engine->directory();
    out.reserve(fx.notifications.size());
    for (const auto& n : fx.notifications) {
      integrations::Delivery d;
      d.notification = n;
      const engine::Incident* inc = nullptr;
      for (auto it = fx.incidents.rbegin(); it != fx.incidents.rend(); ++it)
        if (it->number == n.incident) {
          inc = &*it;
          break;
        }
      if (!inc) inc = engine->find(n.incident);
      if (!inc) continue;
      d.incident = *inc;
      if (const auto* p = dir->person(n.person)) d.person = with_teams_id(*p);
      if (const auto* s = dir->service(inc->service_id)) d.service_name = s->name;
      out.push_back(std::move(d));
    }
    return out;
  }

  /// Persists `fx` (and outbox updates) through the group-commit writer, then
  /// sends its notifications. Loop thread only.
  void commit(engine::Effects fx, std::vector<storage::OutboxUpdate> updates, std::function<void(Result<void>)> after,
              std::optional<std::chrono::steady_clock::time_point> received = {}) {
    auto deliveries = deliveries_for(fx);
    if (received) {
      std::lock_guard lock(first_page_mutex);
      for (const auto& d : deliveries)
        if (d.notification.kind == engine::NotificationKind::page && first_page.size() < 1'000'000)
          first_page.emplace(d.notification.id, *received);
    }
    for (const auto& inc : fx.incidents)
      if (inc.state == engine::IncidentState::resolved) metrics.resolved.fetch_add(1);
    ++pending_commits;
    // Timeline rows that no page update announces go to the incident's Slack
    // channel as plain lines (state changes are the notifier's own lines).
    std::vector<engine::TimelineEvent> lines;
    if (slack_frontend && slack_incident_channels)
      for (const auto& e : fx.timeline)
        if (e.kind != engine::TimelineKind::acknowledged && e.kind != engine::TimelineKind::resolved &&
            e.kind != engine::TimelineKind::escalated && e.kind != engine::TimelineKind::reassigned &&
            e.kind != engine::TimelineKind::triggered)
          lines.push_back(e);
    std::vector<std::pair<std::int64_t, bool>> states;  // incident, no longer triggered
    for (const auto& inc : fx.incidents) states.emplace_back(inc.number, inc.state != engine::IncidentState::triggered);
    auto on_done = [this, deliveries = std::move(deliveries), after = std::move(after), lines = std::move(lines),
                    states = std::move(states)](Result<void> r) mutable {
      if (r) {
        for (const auto& [number, is_quiet] : states) set_quiet(number, is_quiet);
        for (auto& d : deliveries) dispatcher->submit(std::move(d));
        post_timeline_lines(std::move(lines));
      } else {
        spdlog::error("commit failed: {} (the change was not acknowledged to its sender)", r.error().message);
      }
      --pending_commits;
      if (after) after(r);
    };
    if (updates.empty()) {
      writer->submit(std::move(fx), std::move(on_done));
    } else if (fx.empty()) {
      writer->submit_updates(std::move(updates), std::move(on_done));
    } else {
      writer->submit(std::move(fx), {});
      writer->submit_updates(std::move(updates), std::move(on_done));
    }
    rearm();
  }

  /// Posts timeline rows into the incidents' Slack channels, if they have one.
  void post_timeline_lines(std::vector<engine::TimelineEvent> lines) {
    if (lines.empty() || !slack_frontend || !slack_refs) return;
    for (auto& e : lines) {
      for (const auto& ref : integrations::latest_refs(slack_refs->find(e.incident), "slack-incident-channel"))
        slack_frontend->post_line(ref.conversation, engine::format_iso8601(e.at).substr(11, 8) + " UTC  " + e.message);
    }
  }

  void rearm() {
    auto next = engine->next_wakeup();
    if (!next) return;
    if (armed_for && *armed_for <= *next) return;
    armed_for = next;
    auto wait = *next - clock.now();
    if (wait < engine::Millis{0}) wait = engine::Millis{0};
    // A clock that jumps by itself (a test's) is watched; the cap bounds how
    // late a step of the wall clock (NTP) is noticed, at one wake-up a minute.
    if (wait > engine::Millis{60'000}) wait = engine::Millis{60'000};
    timer.expires_after(wait);
    timer.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      armed_for.reset();
      fire();
    });
  }

  void fire() {
    if (degraded) return;  // timers fire again once the engine is rebuilt
    auto fx = engine->tick(clock.now());
    if (!fx.empty()) {
      commit(std::move(fx), {}, {});
    } else {
      rearm();
    }
  }

  void on_outcome(const integrations::DispatchOutcome& o) {
    using Kind = integrations::DispatchOutcome::Kind;
    const char* result = o.kind == Kind::delivered   ? "delivered"
                         : o.kind == Kind::retry     ? "retry"
                         : o.kind == Kind::cancelled ? "cancelled"
                                                     : "failed";
    metrics.count_notification(engine::to_string(o.notification.method), result);
    if (o.kind == Kind::delivered && o.notification.kind == engine::NotificationKind::page) {
      std::lock_guard lock(first_page_mutex);
      if (auto it = first_page.find(o.notification.id); it != first_page.end()) {
        metrics.time_to_first_page.observe(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - it->second).count());
        first_page.erase(it);
      }
    } else if (o.kind == Kind::failed || o.kind == Kind::cancelled) {
      std::lock_guard lock(first_page_mutex);
      first_page.erase(o.notification.id);
    }
    storage::OutboxUpdate update;
    update.id = o.notification.id;
    update.state = o.kind == Kind::delivered ? storage::OutboxState::delivered
                   : o.kind == Kind::retry   ? storage::OutboxState::pending
                                             : storage::OutboxState::failed;
    update.attempts = o.attempts;
    update.next_attempt = o.next_attempt;
    update.error = o.detail;
    update.at = clock.now();
    // A page's failed attempt goes to the engine at once, so the next contact
    // method starts while this one retries; an update's retries are bookkeeping.
    if (o.kind == Kind::cancelled || (o.kind == Kind::retry && o.notification.kind != engine::NotificationKind::page)) {
      writer->submit_updates({update}, {});
      return;
    }
    post([this, o, update] { apply_outcome(o, update); });
  }

  /// Loop thread. The engine's part of a final delivery outcome; kept for
  /// later when the change cannot be committed now.
  void apply_outcome(integrations::DispatchOutcome o, storage::OutboxUpdate update) {
    using Kind = integrations::DispatchOutcome::Kind;
    if (degraded) return defer([this, o, update] { apply_outcome(o, update); });
    auto fx = engine->delivery_result(o.notification,
                                      o.kind == Kind::delivered ? engine::DeliveryStatus::delivered
                                      : o.kind == Kind::retry   ? engine::DeliveryStatus::retrying
                                                                : engine::DeliveryStatus::failed,
                                      o.detail, clock.now());
    commit(std::move(fx), {update}, [this, o, update](Result<void> r) {
      if (!r) post([this, o, update] { defer([this, o, update] { apply_outcome(o, update); }); });
    });
  }

  /// Loop thread. Holds an internal event (a delivery outcome, a channel's
  /// note) until the engine is rebuilt; bounded.
  void defer(std::function<void()> fn) {
    if (deferred.size() >= kMaxDeferred) {
      if (deferred_dropped++ % 1000 == 0)
        spdlog::error("{} internal events dropped while the database fails writes", deferred_dropped);
      return;
    }
    deferred.push_back(std::move(fn));
  }
  static constexpr std::size_t kMaxDeferred = 100'000;

  /// Writer thread: a commit failed and the writer refuses everything after it.
  void on_commit_failure(const Error& e) {
    degraded = true;
    post([this, e] { begin_recovery(e); });
  }

  /// Loop thread.
  void begin_recovery(const Error& e) {
    if (recovering) return;
    recovering = true;
    spdlog::error("a commit failed ({}); refusing changes (503) and answering /readyz 503 until the database "
                  "takes writes again",
                  e.message);
    timer.cancel();
    armed_for.reset();
    probe_backoff = engine::Millis{100};
    last_probe_log = std::chrono::steady_clock::now();
    schedule_probe(engine::Millis{0});
  }

  void schedule_probe(engine::Millis delay) {
    recovery_timer.expires_after(delay);
    recovery_timer.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) try_recover();
    });
  }

  /// Loop thread. Probes the disk; once it takes a write, rebuilds the engine
  /// from the committed state (the failed changes were never answered 2xx, so
  /// their senders retry), lifts the barrier and replays deferred events.
  void try_recover() {
    writer->flush();  // everything submitted before the failure has failed by now
    auto probe = writer->probe(clock.now());
    Result<storage::LoadedState> state = probe ? Result<storage::LoadedState>{} : tl::unexpected(probe.error());
    if (probe) writer->with_store([&](storage::Store& s) { state = s.load(); });
    if (!state) {
      const auto now = std::chrono::steady_clock::now();
      if (now - last_probe_log >= std::chrono::seconds(30)) {
        spdlog::error("the database still fails writes: {}", state.error().message);
        last_probe_log = now;
      }
      probe_backoff = std::min(probe_backoff * 2, engine::Millis{2000});
      return schedule_probe(probe_backoff);
    }
    auto fresh = std::make_unique<engine::Engine>(engine->directory(), state->next_incident, state->next_notification);
    fresh->set_overrides(std::move(state->overrides));
    for (auto& inc : state->open_incidents) fresh->restore(std::move(inc));
    engine = std::move(fresh);
    writer->reset_failure();
    recovering = false;
    degraded = false;
    ++recoveries;
    spdlog::warn("the database takes writes again; state rebuilt from it ({} open incidents), taking changes",
                 engine->open_count());
    auto held = std::move(deferred);
    deferred.clear();
    for (auto& fn : held) fn();
    fire();
  }

  static Error refused_while_failing() {
    return Error{ErrorKind::transient, "the database is failing writes; nothing was changed, retry later",
                 std::chrono::seconds(1)};
  }
};

namespace {
/// Chat message references kept in SQLite (chat_messages), so a restart still
/// updates the pages already posted. Saves are write-through: find() sees them
/// at once from memory, and the database writes are batched on one background
/// thread (one transaction, one fsync, per batch) so channels never wait on the
/// disk and group commits are not held up by one fsync per chat message.
class StoredChatRefs final : public integrations::ChatRefs {
 public:
  explicit StoredChatRefs(App::Impl& d) : d_(d), worker_([this] {
    pthread_setname_np(pthread_self(), "baton-chatrefs");
    run();
  }) {}
  ~StoredChatRefs() override {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    worker_.join();  // pending refs are written before we go
  }

  void save(const integrations::ChatRef& ref) override {
    {
      std::lock_guard lock(mutex_);
      cache_[ref.incident].push_back(ref);
      // Bounded: the oldest incidents fall back to the database.
      while (cache_.size() > kMaxCachedIncidents) cache_.erase(cache_.begin());
      pending_.push_back({ref.incident, ref.kind, ref.conversation, ref.message_id, ref.person});
    }
    wake_.notify_one();
  }

  std::vector<integrations::ChatRef> find(std::int64_t incident) override {
    {
      std::lock_guard lock(mutex_);
      if (auto it = cache_.find(incident); it != cache_.end()) return it->second;
    }
    std::vector<integrations::ChatRef> out;
    {
      std::lock_guard lock(d_.reader_mutex);
      if (auto rows = d_.reader->chat_messages(incident))
        for (auto& m : *rows) out.push_back({m.incident, m.kind, m.conversation, m.message_id, m.person});
    }
    std::lock_guard lock(mutex_);
    auto& cached = cache_[incident];  // another thread may have saved meanwhile: keep both
    cached.insert(cached.begin(), out.begin(), out.end());
    return cached;
  }

 private:
  void run() {
    std::unique_lock lock(mutex_);
    while (true) {
      wake_.wait(lock, [this] { return stopping_ || !pending_.empty(); });
      if (pending_.empty()) return;
      auto batch = std::move(pending_);
      pending_.clear();
      lock.unlock();
      Result<void> r;
      d_.writer->with_store([&](storage::Store& s) { r = s.add_chat_messages(batch, d_.clock.now()); });
      if (!r) spdlog::warn("could not remember {} chat message(s): {}", batch.size(), r.error().message);
      lock.lock();
    }
  }

  static constexpr std::size_t kMaxCachedIncidents = 20000;
  App::Impl& d_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::map<std::int64_t, std::vector<integrations::ChatRef>> cache_;
  std::vector<storage::ChatMessage> pending_;
  bool stopping_ = false;
  std::thread worker_;
};
}  // namespace

App::App(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

App::~App() { stop(); }

Result<std::unique_ptr<App>> App::create(Config config, const engine::Clock& clock) {
  auto cfg = std::make_shared<const Config>(std::move(config));
  auto impl = std::make_unique<Impl>(cfg, clock);
  const auto durability =
      cfg->storage.durability == "normal" ? storage::Durability::normal : storage::Durability::full;
  auto store = storage::Store::open(cfg->storage.path, durability);
  if (!store) return tl::unexpected(store.error());
  auto state = (*store)->load();
  if (!state) return tl::unexpected(state.error());
  auto reader = storage::Store::open_reader(cfg->storage.path);
  if (!reader) return tl::unexpected(reader.error());
  impl->reader = std::move(*reader);

  impl->engine = std::make_unique<engine::Engine>(cfg->directory, state->next_incident, state->next_notification);
  impl->engine->set_overrides(std::move(state->overrides));
  for (auto& inc : state->open_incidents) impl->engine->restore(std::move(inc));
  impl->resume_outbox = std::move(state->pending_outbox);
  for (const auto& e : impl->resume_outbox) {
    if (impl->engine->find(e.notification.incident)) continue;
    auto closed = impl->reader->get_incident(e.notification.incident);
    if (closed && *closed) impl->resume_closed.push_back(**closed);
  }
  if (auto resolved = impl->reader->count_incidents(engine::IncidentState::resolved))
    impl->metrics.resolved = static_cast<std::uint64_t>(*resolved);
  if (auto users = (*store)->teams_users())
    for (auto& [aad, id] : *users) impl->teams_users.emplace(std::move(aad), std::move(id));
  {
    auto* raw = impl.get();
    impl->writer = std::make_unique<storage::GroupCommitWriter>(
        std::move(*store), 4096, [raw](const Error& e) { raw->on_commit_failure(e); });
  }

  if (!cfg->server.action_secret.empty())
    impl->signer = std::make_shared<const integrations::ActionSigner>(cfg->server.action_secret);
  std::vector<std::shared_ptr<integrations::Notifier>> notifiers;
  {
    integrations::AsyncHttpOptions ao;
    ao.max_host_connections = cfg->dispatch.max_connections_per_host;
    ao.default_key_limit = static_cast<std::size_t>(cfg->dispatch.max_in_flight_per_channel);
    impl->async_http = std::make_shared<integrations::AsyncHttpClient>(impl->net_loop, ao);
    impl->net_work.emplace(impl->net_loop.get_executor());
    impl->net_thread = std::thread([raw = impl.get()] {
      pthread_setname_np(pthread_self(), "baton-net");
      raw->net_loop.run();
    });
  }
  if (cfg->webhook.enabled) {
    integrations::WebhookConfig wc;
    wc.url = cfg->webhook.url;
    wc.headers = cfg->webhook.headers;
    wc.timeout = cfg->webhook.timeout;
    wc.signing_secret = cfg->webhook.signing_secret;
    wc.public_url = cfg->server.public_url;
    notifiers.push_back(std::make_shared<integrations::WebhookNotifier>(wc, impl->signer, clock, impl->async_http));
  }
  if (cfg->smtp.enabled) {
    integrations::EmailConfig ec;
    ec.url = cfg->smtp.url;
    ec.from = cfg->smtp.from;
    ec.from_name = cfg->smtp.from_name;
    ec.username = cfg->smtp.username;
    ec.password = cfg->smtp.password;
    ec.require_starttls = cfg->smtp.require_starttls;
    ec.ca_file = cfg->smtp.ca_file;
    ec.verify_peer = cfg->smtp.verify_peer;
    ec.timeout = cfg->smtp.timeout;
    ec.public_url = cfg->server.public_url;
    notifiers.push_back(std::make_shared<integrations::SmtpNotifier>(ec, impl->signer, clock));
  }
  if (cfg->twilio.enabled) {
    integrations::TwilioConfig tc;
    tc.base_url = cfg->twilio.base_url;
    tc.account_sid = cfg->twilio.account_sid;
    tc.auth_token = cfg->twilio.auth_token;
    tc.api_key_sid = cfg->twilio.api_key_sid;
    tc.api_key_secret = cfg->twilio.api_key_secret;
    tc.from = cfg->twilio.from;
    tc.messaging_service_sid = cfg->twilio.messaging_service_sid;
    tc.messages_per_second = cfg->twilio.messages_per_second;
    tc.validity = cfg->twilio.validity;
    if (cfg->twilio.status_callbacks) tc.status_callback_url = cfg->server.public_url + "/sms/twilio/status";
    notifiers.push_back(std::make_shared<integrations::TwilioNotifier>(tc, impl->async_http));
  } else if (cfg->sms_gateway.enabled) {
    integrations::SmsGatewayConfig gc;
    gc.url = cfg->sms_gateway.url;
    gc.method = cfg->sms_gateway.method;
    gc.headers = cfg->sms_gateway.headers;
    gc.content_type = cfg->sms_gateway.content_type;
    gc.body_template = cfg->sms_gateway.body_template;
    gc.messages_per_second = cfg->sms_gateway.messages_per_second;
    notifiers.push_back(std::make_shared<integrations::HttpGatewayNotifier>(gc, impl->async_http));
  }
  if (cfg->slack.enabled) {
    slack::SlackNotifierConfig sc;
    sc.api = slack::SlackConfig{cfg->slack.base_url, cfg->slack.bot_token, std::chrono::seconds(10)};
    sc.public_url = cfg->server.public_url;
    for (const auto& [id, svc] : cfg->directory->services)
      if (!svc.slack_channel.empty()) sc.service_channels[id] = svc.slack_channel;
    sc.open_incident_channels = true;  // the engine asks only for services with incident_channel: true
    sc.archive_on_resolve = cfg->slack.archive_on_resolve;
    sc.messages_per_second_per_channel = cfg->slack.messages_per_second_per_channel;
    impl->slack_refs = std::make_shared<StoredChatRefs>(*impl);
    for (const auto& [id, svc] : cfg->directory->services)
      impl->slack_incident_channels = impl->slack_incident_channels || svc.open_incident_channel;
    auto notifier = std::make_shared<slack::SlackNotifier>(sc, impl->slack_refs);
    for (const auto& [id, p] : cfg->directory->people)
      if (!p.slack_user_id.empty()) notifier->remember_person(id, p.name, p.slack_user_id);
    notifiers.push_back(std::move(notifier));
    impl->slack_api = std::make_shared<const slack::SlackWebApi>(sc.api);
  }
  if (cfg->teams.enabled) {
    teams::TeamsConfig tc;
    tc.app_id = cfg->teams.app_id;
    tc.app_password = cfg->teams.app_password;
    tc.tenant_id = cfg->teams.tenant_id;
    tc.login_base = cfg->teams.login_base;
    tc.openid_metadata_url = cfg->teams.openid_metadata_url;
    tc.connector_service_url = cfg->teams.connector_base;
    tc.graph_base = cfg->teams.graph_base;
    auto tokens = std::make_shared<teams::TokenProvider>(tc);
    impl->teams_connector = std::make_shared<teams::BotConnector>(tc, tokens);
    teams::TeamsNotifierConfig nc;
    nc.teams = tc;
    nc.public_url = cfg->server.public_url;
    for (const auto& [id, svc] : cfg->directory->services) {
      if (!svc.teams_channel.empty()) nc.service_channels[id] = svc.teams_channel;
      if (!svc.teams_team.empty()) nc.service_teams[id] = svc.teams_team;
    }
    notifiers.push_back(std::make_shared<teams::TeamsNotifier>(
        nc, impl->teams_connector, std::make_shared<teams::GraphClient>(tc, tokens),
        std::make_shared<StoredChatRefs>(*impl), std::make_shared<teams::ConversationLimiter>()));
    if (cfg->teams.allow_unauthenticated)
      spdlog::warn("TEAMS ACTIVITIES ARE NOT AUTHENTICATED (teams.allow_unauthenticated): Agents Playground only, "
                   "loopback only; never run this in production");
    else
      impl->teams_validator = std::make_shared<teams::JwtValidator>(tc, clock);
  }
  integrations::Dispatcher::Options dopt;
  dopt.workers = cfg->dispatch.workers;
  dopt.max_attempts = cfg->dispatch.max_attempts;
  dopt.base_backoff = cfg->dispatch.base_backoff;
  dopt.max_in_flight_per_channel = static_cast<std::size_t>(cfg->dispatch.max_in_flight_per_channel);
  dopt.still_wanted = [raw = impl.get()](const integrations::Delivery& d) { return raw->page_wanted(d); };
  auto* raw = impl.get();
  impl->dispatcher = std::make_unique<integrations::Dispatcher>(
      std::move(notifiers), clock, dopt, [raw](const integrations::DispatchOutcome& o) { raw->on_outcome(o); });
  spdlog::info("restored {} open incidents and {} undelivered notifications from {}", impl->engine->open_count(),
               impl->resume_outbox.size(), cfg->storage.path);
  auto app = std::unique_ptr<App>(new App(std::move(impl)));
  if (app->impl_->slack_api) {
    // Identity lookups get a short timeout: an answer is still due within Slack's 3 s.
    auto lookup = slack::SlackConfig{cfg->slack.base_url, cfg->slack.bot_token, std::chrono::seconds(2)};
    app->impl_->slack_frontend = std::make_unique<SlackFrontend>(
        *app, app->impl_->slack_api, std::make_shared<const slack::SlackWebApi>(lookup));
  }
  if (app->impl_->teams_connector)
    app->impl_->teams_frontend =
        std::make_unique<TeamsFrontend>(*app, app->impl_->teams_validator, app->impl_->teams_connector);
  return app;
}

Result<std::uint16_t> App::start() {
  auto& d = *impl_;
  auto cfg = config();
  auto listen = parse_listen(cfg->server.listen);
  if (!listen) return tl::unexpected(listen.error());
  HttpServerOptions hopt;
  hopt.host = listen->first;
  hopt.port = listen->second;
  hopt.max_body_bytes = cfg->server.max_body_bytes;
  hopt.request_timeout = cfg->server.request_timeout;
  d.server = std::make_unique<HttpServer>(hopt, handler());

  d.work.emplace(d.loop.get_executor());
  d.clock_watch = d.clock.watch([&d] {
    d.post([&d] {
      d.timer.cancel();
      d.armed_for.reset();
      d.fire();
    });
  });
  d.loop_thread = std::thread([&d] {
    pthread_setname_np(pthread_self(), "baton-engine");
    d.loop.run();
  });
  d.started = true;
  // Resume undelivered notifications, then fire overdue timers and arm the next.
  d.post([&d] {
    for (auto& e : d.resume_outbox) {
      integrations::Delivery del;
      del.notification = e.notification;
      del.attempts = e.attempts;
      const engine::Incident* inc = d.engine->find(e.notification.incident);
      for (const auto& c : d.resume_closed)
        if (!inc && c.number == e.notification.incident) inc = &c;
      if (!inc) continue;
      if (inc->state != engine::IncidentState::triggered) d.set_quiet(inc->number, true);
      del.incident = *inc;
      const auto& dir = d.engine->directory();
      if (const auto* p = dir->person(e.notification.person)) del.person = d.with_teams_id(*p);
      if (const auto* s = dir->service(inc->service_id)) del.service_name = s->name;
      d.dispatcher->submit(std::move(del), e.next_attempt);
    }
    d.resume_outbox.clear();
    d.resume_closed.clear();
    d.fire();
  });
  auto port = d.server->start();
  if (!port) return port;
  if (d.slack_frontend && cfg->slack.mode == "socket") {
    SocketModeOptions so;
    so.app_token = cfg->slack.app_token;
    so.open_url = [api = d.slack_api, token = cfg->slack.app_token] { return api->open_connection(token); };
    d.slack_socket = std::make_unique<SlackSocketMode>(
        so, [&d](const Envelope& e, AckFn ack) { handle_envelope(*d.slack_frontend, e, std::move(ack)); });
    d.slack_socket->start();
  }
  spdlog::info("baton listening on {}:{}", hopt.host, *port);
  return port;
}

void App::stop() {
  auto& d = *impl_;
  if (d.stopped.exchange(true)) return;
  d.clock.unwatch(d.clock_watch);
  if (d.slack_socket) d.slack_socket->stop();
  if (d.server) d.server->stop(std::chrono::seconds(10));
  if (d.started) {
    // Everything the loop accepted is committed before we go.
    d.run_sync([&d] {
      d.timer.cancel();
      d.recovery_timer.cancel();
      return 0;
    });
    d.writer->flush();
    d.run_sync([] { return 0; });  // outcomes posted by the last commits
    d.writer->flush();
  }
  if (d.dispatcher) d.dispatcher->stop();
  // Sends still in flight after the dispatcher's grace are cancelled: they stay
  // pending in the outbox and go out after the restart.
  if (d.async_http) d.async_http->shutdown();
  if (d.dispatcher) d.dispatcher->wait_idle();
  if (d.started) {
    // Sends that were in flight posted their outcomes to the loop: commit them,
    // or a page delivered just now would be sent again after the restart.
    d.run_sync([] { return 0; });
    d.writer->flush();
  }
  d.slack_frontend.reset();
  d.teams_frontend.reset();
  if (d.started) {
    d.work.reset();
    d.loop.stop();
    if (d.loop_thread.joinable()) d.loop_thread.join();
  }
  if (d.writer) d.writer->flush();
  d.stop_net();
}

void App::reload(Config config) {
  auto cfg = std::make_shared<const Config>(std::move(config));
  auto current = this->config();
  if (cfg->server.listen != current->server.listen || cfg->storage.path != current->storage.path ||
      cfg->webhook.url != current->webhook.url)
    spdlog::warn("reload: server, storage and channel settings apply at the next restart");
  {
    std::lock_guard lock(impl_->config_mutex);
    impl_->config = cfg;
  }
  impl_->run_sync([this, dir = cfg->directory] {
    impl_->engine->set_directory(dir);
    return 0;
  });
  spdlog::info("configuration reloaded: {} services, {} schedules, {} people", cfg->directory->services.size(),
               cfg->directory->schedules.size(), cfg->directory->people.size());
}

namespace {
// The last line of defence for text from outside: everything the engine keeps
// and storage serves as JSON must be UTF-8 (transports repair their own input;
// this catches any that did not).
void repair_text(engine::Alert& a) {
  for (std::string* s : {&a.integration_key, &a.dedup_key, &a.summary, &a.source_name, &a.client, &a.client_url})
    integrations::repair_utf8_in_place(*s);
  for (auto& g : a.group)
    for (std::string* s : {&g.fingerprint, &g.starts_at, &g.summary}) integrations::repair_utf8_in_place(*s);
  if (integrations::repair_utf8_in_place(a.details_json)) a.details_json = "{}";  // never stored half-valid
}
}  // namespace

void App::ingest(engine::Alert alert, std::function<void(Result<IngestOutcome>)> done) {
  auto received = std::chrono::steady_clock::now();
  impl_->metrics.count_event(engine::to_string(alert.source));
  if (impl_->degraded) return done(tl::unexpected(Impl::refused_while_failing()));
  repair_text(alert);
  impl_->post([this, alert = std::move(alert), done = std::move(done), received]() mutable {
    auto& d = *impl_;
    if (d.degraded) return done(tl::unexpected(Impl::refused_while_failing()));
    if (alert.dedup_key.empty() && alert.action == engine::AlertAction::trigger) {
      // PagerDuty generates a key when the sender gives none; ours is unique per event.
      alert.dedup_key = "baton-" + std::to_string(engine::to_ms(d.clock.now())) + "-" +
                        std::to_string(d.engine->next_incident_number());
    }
    auto fx = d.engine->ingest(alert, d.clock.now());
    if (!fx) return done(tl::unexpected(fx.error()));
    IngestOutcome outcome{alert.dedup_key, {}};
    if (!fx->touched.empty()) outcome.incident = fx->touched.front();
    if (fx->empty()) {
      // Nothing new to write. If an earlier change is still on its way to the
      // disk, answer after it so a 2xx never precedes durability.
      if (d.pending_commits.load() == 0) return done(outcome);
      return d.commit(std::move(*fx), {}, [done = std::move(done), outcome](Result<void> r) {
        if (!r) return done(tl::unexpected(r.error()));
        done(outcome);
      });
    }
    d.commit(std::move(*fx), {},
             [done = std::move(done), outcome](Result<void> r) {
               if (!r) return done(tl::unexpected(r.error()));
               done(outcome);
             },
             received);
  });
}

void App::command(std::int64_t number, Command command, engine::Actor actor,
                  std::function<void(Result<engine::Incident>)> done) {
  if (impl_->degraded) return done(tl::unexpected(Impl::refused_while_failing()));
  impl_->post([this, number, command, actor = std::move(actor), done = std::move(done)]() mutable {
    auto& d = *impl_;
    if (d.degraded) return done(tl::unexpected(Impl::refused_while_failing()));
    const auto now = d.clock.now();
    Result<engine::Effects> fx = command == Command::acknowledge ? d.engine->acknowledge(number, actor, now)
                                 : command == Command::resolve   ? d.engine->resolve(number, actor, now)
                                                                 : d.engine->escalate(number, actor, now);
    if (!fx) {
      if (fx.error().kind == ErrorKind::not_found) {
        std::lock_guard lock(d.reader_mutex);
        auto stored = d.reader->get_incident(number);
        if (stored && *stored && (**stored).state == engine::IncidentState::resolved)
          return done(fail(ErrorKind::conflict, "incident #" + std::to_string(number) + " is already resolved"));
        return done(fail(ErrorKind::not_found, "no incident #" + std::to_string(number)));
      }
      return done(tl::unexpected(fx.error()));
    }
    engine::Incident snapshot = fx->incidents.empty() ? engine::Incident{} : fx->incidents.back();
    d.commit(std::move(*fx), {}, [done = std::move(done), snapshot = std::move(snapshot)](Result<void> r) {
      if (!r) return done(tl::unexpected(r.error()));
      done(snapshot);
    });
  });
}

namespace {
// Runs an engine call that returns Effects on the loop, commits it, and hands
// back the snapshot of the incident it touched.
template <typename Call>
void run_command(App::Impl& d, Call call, std::function<void(Result<engine::Incident>)> done) {
  if (d.degraded) return done(tl::unexpected(App::Impl::refused_while_failing()));
  d.post([&d, call = std::move(call), done = std::move(done)]() mutable {
    if (d.degraded) return done(tl::unexpected(App::Impl::refused_while_failing()));
    Result<engine::Effects> fx = call(*d.engine, d.clock.now());
    if (!fx) return done(tl::unexpected(fx.error()));
    engine::Incident snapshot = fx->incidents.empty() ? engine::Incident{} : fx->incidents.back();
    d.commit(std::move(*fx), {}, [done = std::move(done), snapshot = std::move(snapshot)](Result<void> r) {
      if (!r) return done(tl::unexpected(r.error()));
      done(snapshot);
    });
  });
}
}  // namespace

void App::create(std::string service, std::string summary, engine::Severity severity, engine::Actor actor,
                 std::optional<std::string> assignee, std::function<void(Result<engine::Incident>)> done) {
  integrations::repair_utf8_in_place(summary);
  run_command(
      *impl_,
      [=](engine::Engine& e, engine::TimePoint now) { return e.create(service, summary, severity, actor, now, assignee); },
      std::move(done));
}

void App::reassign(std::int64_t number, std::string person, engine::Actor actor,
                   std::function<void(Result<engine::Incident>)> done) {
  run_command(
      *impl_, [=](engine::Engine& e, engine::TimePoint now) { return e.reassign(number, person, actor, now); },
      std::move(done));
}

std::optional<std::int64_t> App::incident_for_conversation(const std::string& conversation) {
  std::lock_guard lock(impl_->reader_mutex);
  auto found = impl_->reader->incident_for_conversation(conversation);
  if (!found) return std::nullopt;
  return *found;
}

void App::remember_teams_user(const std::string& aad_object_id, const std::string& teams_id) {
  if (aad_object_id.empty() || !teams_id.starts_with("29:")) return;
  {
    std::lock_guard lock(impl_->teams_users_mutex);
    auto [it, inserted] = impl_->teams_users.try_emplace(aad_object_id, teams_id);
    if (!inserted && it->second == teams_id) return;
    it->second = teams_id;
  }
  Result<void> r;
  impl_->writer->with_store([&](storage::Store& s) { r = s.save_teams_user(aad_object_id, teams_id, impl_->clock.now()); });
  if (!r) spdlog::warn("could not remember a Teams user id: {}", r.error().message);
}

void App::remember_teams_channel(const std::string& team_id, const std::string& channel_id,
                                 const std::string& service_url) {
  Result<void> r;
  impl_->writer->with_store(
      [&](storage::Store& s) { r = s.save_teams_channel(team_id, channel_id, service_url, impl_->clock.now()); });
  if (!r) spdlog::warn("could not remember a Teams channel: {}", r.error().message);
}

std::vector<std::array<std::string, 3>> App::teams_channels() {
  std::lock_guard lock(impl_->reader_mutex);
  auto rows = impl_->reader->teams_channels();
  return rows ? *rows : std::vector<std::array<std::string, 3>>{};
}

void App::note(std::int64_t number, std::string message, engine::Actor actor) {
  integrations::repair_utf8_in_place(message);
  integrations::repair_utf8_in_place(actor.id);
  impl_->post([this, number, message = std::move(message), actor = std::move(actor)]() mutable {
    auto& d = *impl_;
    if (d.degraded) {
      return d.defer([this, number, message = std::move(message), actor = std::move(actor)]() mutable {
        note(number, std::move(message), std::move(actor));
      });
    }
    engine::Effects fx;
    fx.timeline.push_back(engine::TimelineEvent{number, d.clock.now(), engine::TimelineKind::note, actor.id,
                                                actor.channel, std::move(message)});
    d.commit(std::move(fx), {}, {});
  });
}

void App::delivery_failed(engine::Notification notification, std::string detail) {
  impl_->metrics.count_notification(engine::to_string(notification.method), "failed_later");
  integrations::repair_utf8_in_place(detail);
  impl_->post([this, notification = std::move(notification), detail = std::move(detail)]() mutable {
    auto& d = *impl_;
    if (d.degraded) {
      return d.defer([this, notification = std::move(notification), detail = std::move(detail)]() mutable {
        delivery_failed(std::move(notification), std::move(detail));
      });
    }
    auto fx = d.engine->delivery_result(notification, engine::DeliveryStatus::failed, detail, d.clock.now());
    d.commit(std::move(fx), {}, {});
  });
}

std::vector<engine::Incident> App::open_for_person(const std::string& person) {
  auto out = impl_->run_sync([this, &person] {
    std::vector<engine::Incident> v;
    for (const auto& [n, inc] : impl_->engine->open_incidents())
      if (inc.owner == person) v.push_back(inc);
    return v;
  });
  std::sort(out.begin(), out.end(), [](const engine::Incident& a, const engine::Incident& b) {
    return std::tie(a.contact.page_started, a.number) > std::tie(b.contact.page_started, b.number);
  });
  return out;
}

Result<std::vector<engine::Incident>> App::list_incidents(const storage::IncidentQuery& q) {
  std::lock_guard lock(impl_->reader_mutex);
  return impl_->reader->list_incidents(q);
}

Result<std::optional<engine::Incident>> App::get_incident(std::int64_t number) {
  std::lock_guard lock(impl_->reader_mutex);
  return impl_->reader->get_incident(number);
}

Result<std::vector<engine::TimelineEvent>> App::timeline(std::int64_t number) {
  std::lock_guard lock(impl_->reader_mutex);
  return impl_->reader->timeline(number);
}

Result<std::vector<storage::OutboxEntry>> App::outbox(std::int64_t number) {
  std::lock_guard lock(impl_->reader_mutex);
  return impl_->reader->outbox_for(number);
}

std::vector<OnCallEntry> App::on_call(std::optional<std::string> schedule, engine::TimePoint at) {
  auto cfg = config();
  auto overrides = impl_->run_sync([this] { return impl_->engine->overrides(); });
  std::vector<OnCallEntry> out;
  for (const auto& [id, s] : cfg->directory->schedules) {
    if (schedule && *schedule != id) continue;
    OnCallEntry e{id, s.name, engine::on_call_at(s, overrides, at).value_or(""), std::nullopt};
    auto next = engine::next_handoffs(s, overrides, at, 1);
    if (!next.empty()) e.until = next.front().start;
    out.push_back(std::move(e));
  }
  return out;
}

Result<engine::Override> App::add_override(engine::Override o) {
  auto& d = *impl_;
  if (!config()->directory->schedule(o.schedule_id))
    return fail(ErrorKind::not_found, "unknown schedule '" + o.schedule_id + "'");
  if (!config()->directory->person(o.person)) return fail(ErrorKind::not_found, "unknown person '" + o.person + "'");
  if (o.end <= o.start) return fail(ErrorKind::invalid_request, "an override must end after it starts");
  Result<std::int64_t> id = 0;
  d.writer->with_store([&](storage::Store& s) { id = s.add_override(o, d.clock.now()); });
  if (!id) return tl::unexpected(id.error());
  o.id = *id;
  d.run_sync([&d, o] {
    auto all = d.engine->overrides();
    all.push_back(o);
    d.engine->set_overrides(std::move(all));
    return 0;
  });
  return o;
}

Result<void> App::remove_override(std::int64_t id) {
  auto& d = *impl_;
  Result<void> r;
  d.writer->with_store([&](storage::Store& s) { r = s.remove_override(id); });
  if (!r) return r;
  d.run_sync([&d, id] {
    auto all = d.engine->overrides();
    std::erase_if(all, [id](const engine::Override& o) { return o.id == id; });
    d.engine->set_overrides(std::move(all));
    return 0;
  });
  return {};
}

std::vector<engine::Override> App::overrides() {
  return impl_->run_sync([this] { return impl_->engine->overrides(); });
}

Result<void> App::consume_token(const std::string& token_id) {
  Result<void> result;
  impl_->writer->with_store([&](storage::Store& s) { result = s.consume_token(token_id, impl_->clock.now()); });
  return result;
}

std::string App::metrics_text() {
  auto& d = *impl_;
  auto counts = d.run_sync([&d] {
    std::pair<std::uint64_t, std::uint64_t> c{0, 0};
    for (const auto& [n, inc] : d.engine->open_incidents())
      (inc.state == engine::IncidentState::triggered ? c.first : c.second)++;
    return c;
  });
  auto stats = d.writer->stats();
  RuntimeState st;
  st.triggered = counts.first;
  st.acknowledged = counts.second;
  st.commits = stats.commits;
  st.committed_items = stats.items;
  st.failed_items = stats.failed_items;
  st.commit_failures = stats.failures;
  st.storage_failing = d.degraded;
  st.storage_recoveries = d.recoveries;
  if (d.server) {
    const auto http = d.server->stats();
    st.accept_errors = http.accept_errors_total;
    st.fd_exhausted = http.fd_exhausted_total;
    st.accept_backing_off = http.currently_backing_off;
    st.connections_open = http.connections_open;
  }
  return d.metrics.render(st);
}

void App::count_rejected(const std::string& source) { impl_->metrics.count_rejected(source); }

SlackFrontend* App::slack() { return impl_->slack_frontend.get(); }

TeamsFrontend* App::teams() { return impl_->teams_frontend.get(); }

bool App::storage_failing() const { return impl_->degraded; }

bool App::ready() const { return impl_->started && !impl_->stopped && !impl_->degraded; }

std::shared_ptr<const Config> App::config() const {
  std::lock_guard lock(impl_->config_mutex);
  return impl_->config;
}

const engine::Clock& App::clock() const { return impl_->clock; }

void App::poke() {
  impl_->run_sync([this] {
    impl_->fire();
    return 0;
  });
}

void App::drain() {
  for (int i = 0; i < 3; ++i) {
    impl_->run_sync([] { return 0; });
    impl_->writer->flush();
    // Sends already due go out (their outcomes are drained by the next round).
    if (impl_->dispatcher) impl_->dispatcher->wait_quiet(std::chrono::seconds(10));
  }
  impl_->run_sync([] { return 0; });
  impl_->writer->flush();
}

}  // namespace baton::bot
