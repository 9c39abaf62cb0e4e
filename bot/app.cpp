// The composition root (see app.hpp): builds the owners in order, starts and
// stops them, swaps the config on reload. Threads created here: the outbound
// client's loop (`baton-net`); the owners start their own (docs/architecture.md).
#include "bot/app.hpp"

#include <pthread.h>

#include <algorithm>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>

#include "bot/channels.hpp"
#include "bot/chat_refs.hpp"
#include "bot/commands.hpp"
#include "bot/config_diff.hpp"
#include "bot/email_replies.hpp"
#include "bot/http_server.hpp"
#include "bot/metrics.hpp"
#include "bot/queries.hpp"
#include "bot/slack_frontend.hpp"
#include "bot/teams_frontend.hpp"
#include "integrations/chat_refs.hpp"
#include "integrations/common/async_http.hpp"
#include "integrations/slack/socket_mode.hpp"
#include "integrations/slack/web_api.hpp"
#include "storage/cluster.hpp"
#include "storage/store.hpp"

namespace baton::bot {

namespace net = boost::asio;

struct App::Impl {
  std::shared_ptr<const Config> config;
  mutable std::mutex config_mutex;
  const engine::Clock& clock;
  Metrics metrics;

  // The non-blocking outbound client (libcurl multi) on its own loop and
  // thread. Declared first: the dispatcher and the notifiers that use it go first.
  net::io_context net_loop{1};
  std::optional<net::executor_work_guard<net::io_context::executor_type>> net_work;
  std::thread net_thread;
  std::shared_ptr<integrations::AsyncHttpClient> async_http;

  std::unique_ptr<Queries> queries;
  std::unique_ptr<Incidents> incidents;
  std::shared_ptr<StoredChatRefs> chat_refs;  // also held by Incidents and the Slack/Teams notifiers
  std::unique_ptr<Channels> channels;
  std::unique_ptr<Commands> commands;  // after what it uses, before the frontends that use it
  std::unique_ptr<EmailReplies> email_replies;  // smtp.replies: the IMAP poller (baton-imap)
  std::unique_ptr<HttpServer> server;
  std::unique_ptr<SlackFrontend> slack_frontend;
  std::unique_ptr<slack::SlackSocketMode> slack_socket;
  std::unique_ptr<TeamsFrontend> teams_frontend;

  Impl(std::shared_ptr<const Config> c, const engine::Clock& clk) : config(std::move(c)), clock(clk) {}
  ~Impl() { stop_net(); }

  /// Stops the outbound client's loop (its sends were finished or cancelled).
  void stop_net() {
    net_work.reset();
    net_loop.stop();
    if (net_thread.joinable()) net_thread.join();
  }

  /// Writer thread: committed timeline rows go to the incidents' Slack channels, if they have one.
  void post_timeline_lines(std::vector<engine::TimelineEvent> lines) {
    if (lines.empty() || !slack_frontend) return;
    for (auto& e : lines) {
      for (const auto& ref : integrations::latest_refs(chat_refs->find(e.incident), "slack-incident-channel"))
        slack_frontend->post_line(ref.conversation, engine::format_iso8601(e.at).substr(11, 8) + " UTC  " + e.message);
    }
  }
};

App::App(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

App::~App() { stop(); }

Result<std::unique_ptr<App>> App::create(Config config, const engine::Clock& clock) {
  auto cfg = std::make_shared<const Config>(std::move(config));
  auto impl = std::make_unique<Impl>(cfg, clock);
  const auto durability =
      cfg->storage.durability == "normal" ? storage::Durability::normal : storage::Durability::full;
  auto store = storage::Store::open(cfg->storage.path, durability);
  if (!store) return tl::unexpected(store.error());
  // PostgreSQL: any number of instances share the database; the one holding
  // the lease runs the engine and loads the state when it takes over
  // (docs/architecture.md, "High availability"). SQLite: one instance.
  const bool cluster = storage::is_postgres_uri(cfg->storage.path);
  auto state = cluster ? Result<storage::LoadedState>(storage::LoadedState{}) : (*store)->load();
  if (!state) return tl::unexpected(state.error());
  auto reader = storage::Store::open_reader(cfg->storage.path);
  if (!reader) return tl::unexpected(reader.error());
  impl->queries = std::make_unique<Queries>(std::move(*reader));
  if (auto resolved = impl->queries->count_incidents(engine::IncidentState::resolved))
    impl->metrics.resolved = static_cast<std::uint64_t>(*resolved);

  // Chat messages can still be updated for open incidents and for those with
  // undelivered notifications: their references are loaded into memory now.
  std::vector<std::int64_t> chat_incidents;
  if (cfg->slack.enabled || cfg->teams.enabled || cfg->smtp.enabled) {  // email keeps its thread root
    for (const auto& inc : state->open_incidents) chat_incidents.push_back(inc.number);
    for (const auto& e : state->pending_outbox) chat_incidents.push_back(e.notification.incident);
    std::sort(chat_incidents.begin(), chat_incidents.end());
    chat_incidents.erase(std::unique(chat_incidents.begin(), chat_incidents.end()), chat_incidents.end());
  }
  impl->incidents =
      Incidents::create(*cfg, clock, std::move(*store), std::move(*state), *impl->queries, impl->metrics);
  if (cluster) {
    ClusterOptions co;
    co.uri = cfg->storage.path;
    co.instance_id = storage::new_instance_id();
    co.address = cfg->server.public_url.empty() ? cfg->server.listen : cfg->server.public_url;
    impl->incidents->enable_cluster(std::move(co));
  }
  impl->chat_refs = std::make_shared<StoredChatRefs>(impl->incidents->writer(), clock, chat_incidents);
  if (cluster && (cfg->slack.enabled || cfg->teams.enabled || cfg->smtp.enabled))
    impl->incidents->on_takeover(
        [refs = std::weak_ptr<StoredChatRefs>(impl->chat_refs)](const std::vector<std::int64_t>& numbers) {
          if (auto r = refs.lock()) r->reload(numbers);
        });

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
  impl->channels = Channels::build(cfg, clock, impl->async_http, impl->net_loop, impl->chat_refs);
  impl->incidents->connect_channels(impl->net_loop, impl->channels->take_notifiers(), cfg->dispatch, impl->chat_refs);

  auto app = std::unique_ptr<App>(new App(std::move(impl)));
  auto& d = *app->impl_;
  d.commands = std::make_unique<Commands>(*app);
  d.email_replies = EmailReplies::create(*app, d.net_loop);
  if (auto api = d.channels->slack_api()) {
    d.slack_frontend = std::make_unique<SlackFrontend>(*app, api, d.channels->slack_lookup_api());
    // Timeline rows that no page update announces go to the incident's Slack channel.
    if (d.channels->slack_incident_channels())
      d.incidents->on_committed_lines([&d](std::vector<engine::TimelineEvent> lines) {
        d.post_timeline_lines(std::move(lines));
      });
  }
  if (auto connector = d.channels->teams_connector())
    d.teams_frontend = std::make_unique<TeamsFrontend>(*app, d.channels->teams_validator(), connector);
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

  d.incidents->start();
  auto port = d.server->start();
  if (!port) return port;
  if (d.email_replies) d.email_replies->start();
  if (d.slack_frontend && cfg->slack.mode == "socket") {
    slack::SocketModeOptions so;
    so.app_token = cfg->slack.app_token;
    so.ca_file = cfg->slack.ca_file;
    so.open_url_async = [api = d.channels->slack_api(), token = cfg->slack.app_token](auto done) {
      api->open_connection_async(token, std::move(done));
    };
    slack::EnvelopeHandler handler = [&d](const slack::Envelope& e, slack::AckFn ack) {
      handle_envelope(*d.slack_frontend, e, std::move(ack));
    };
    if (d.incidents->cluster_status().enabled) {
      // Every instance holds its own connection, and Slack may hand a retry of
      // an envelope that was not acknowledged in time to any of them, even
      // under a new envelope id (https://api.slack.com/apis/socket-mode): its
      // content key (else its envelope id) is claimed in the shared database
      // first, so that exactly one instance handles it.
      handler = [&d, inner = std::move(handler)](const slack::Envelope& e, slack::AckFn ack) {
        d.incidents->consume_token_async(e.content_key.empty() ? "slack-envelope:" + e.envelope_id : e.content_key,
                                         [e, ack = std::move(ack), inner](Result<void> claimed) mutable {
                                           if (!claimed && claimed.error().kind == ErrorKind::conflict) {
                                             spdlog::info("slack socket mode: envelope {} was handled by another "
                                                          "instance; acked only",
                                                          e.envelope_id);
                                             return ack(std::nullopt);
                                           }
                                           if (!claimed)
                                             spdlog::warn("slack socket mode: envelope {} could not be claimed ({}); "
                                                          "handled here",
                                                          e.envelope_id, claimed.error().message);
                                           inner(e, std::move(ack));
                                         });
      };
    }
    d.slack_socket = std::make_unique<slack::SlackSocketMode>(so, std::move(handler));
    d.slack_socket->start();
  }
  spdlog::info("baton listening on {}:{}", hopt.host, *port);
  return port;
}

void App::stop() {
  auto& d = *impl_;
  if (!d.incidents->begin_stop()) return;
  if (d.email_replies) d.email_replies->stop();
  if (d.slack_socket) d.slack_socket->stop();
  if (d.server) d.server->stop(std::chrono::seconds(10));
  // Commits what the engine accepted, stops the dispatcher, cancels the sends
  // still in flight (they stay pending in the outbox) and commits the outcomes.
  d.incidents->finish([&d] {
    if (d.channels) d.channels->shutdown();
  });
  d.slack_frontend.reset();
  d.teams_frontend.reset();
  d.incidents->stop_loop();
  d.stop_net();
}

Result<void> App::reload(Config config) {
  auto& d = *impl_;
  const auto current = this->config();
  // What only a restart applies keeps its running value (bot/config_diff.hpp).
  const auto restart = keep_restart_only(*current, config);
  auto cfg = std::make_shared<const Config>(std::move(config));
  // The changed channels are built first; then the config, the channels and the
  // directory switch together. Sends in flight finish on the old channels.
  auto rebuilt = d.channels->rebuild(cfg);
  if (!rebuilt) {
    spdlog::error("reload refused, the running configuration stays: {}", rebuilt.error().message);
    return tl::unexpected(rebuilt.error());
  }
  {
    std::lock_guard lock(d.config_mutex);
    d.config = cfg;
  }
  d.incidents->set_directory(cfg->directory);
  log_reload(*current, *cfg, restart, *rebuilt, d.slack_frontend != nullptr, d.teams_frontend != nullptr);
  return {};
}

std::string App::metrics_text() {
  auto& d = *impl_;
  RuntimeState st;
  d.incidents->fill_metrics(st);
  if (const auto c = d.incidents->cluster_status(); c.enabled) {
    st.cluster = true;
    st.cluster_owner = c.owner;
    st.cluster_epoch = c.epoch;
    st.cluster_takeovers = c.takeovers;
    st.inbox_lag_seconds = c.inbox_lag_seconds;
  }
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

Incidents& App::incidents() { return *impl_->incidents; }

Commands& App::commands() { return *impl_->commands; }

Queries& App::queries() { return *impl_->queries; }

StoredChatRefs& App::chat_refs() { return *impl_->chat_refs; }

SlackFrontend* App::slack() { return impl_->slack_frontend.get(); }

TeamsFrontend* App::teams() { return impl_->teams_frontend.get(); }

std::shared_ptr<const Config> App::config() const {
  std::lock_guard lock(impl_->config_mutex);
  return impl_->config;
}

const engine::Clock& App::clock() const { return impl_->clock; }

}  // namespace baton::bot
