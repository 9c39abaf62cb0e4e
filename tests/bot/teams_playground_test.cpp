// Microsoft Teams end to end against the REAL Microsoft 365 Agents Playground
// (npm @microsoft/m365agentsplayground, pinned in tests/playground/package.json
// and installed by scripts/deps.sh). The test starts baton in-process with
// teams.allow_unauthenticated, then the Playground on a free loopback port,
// pointed at baton's /api/messages, and drives it with no browser, through the
// REST and WebSocket API its own web page uses (docs/teams_playground.md):
//   POST /_conversation/v1/conversations/{id}/messages  a user types a message
//   POST /_conversation/v1/invoke                       Action.Execute pressed
//   POST /_conversation/v1/submit                       Action.Submit pressed
//   ws   /_ws_conversation/v1/conversations/stream      what the page shows
// Without node or the installed package the test prints "BATON-SKIPPED:" and
// ctest reports it skipped. The Playground's process group is stopped when the
// test ends, failed or not, and it dies with the test process.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

#include "tests/support/service_harness.hpp"

extern char** environ;

using namespace baton;
using namespace std::chrono_literals;
namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

constexpr const char* kPersonalChat = "a:personal-alex";
constexpr const char* kChannel = "19:payments@thread.tacv2";
constexpr const char* kUser = "29:alex";  // the Playground's current user, in Teams' id form

// The Playground's mock tenant (its config format: version 0.1.1). Teams ids
// have their real forms ("29:" users, "19:" channels) so that baton learns the
// user's id from the first activity as it does in Teams.
constexpr const char* kPlaygroundConfig = R"(version: "0.1.1"
tenantId: 00000000-0000-0000-0000-0000000000001
bot: {id: "28:baton-playground", name: baton}
currentUser: {id: "29:alex", name: Alex Wilber, userPrincipleName: alexw@example.com, aadObjectId: aad-alex,
              givenName: Alex, surname: Wilber, email: alexw@example.com}
users:
  - {id: "29:megan", name: Megan Bowen, userPrincipleName: meganb@example.com, aadObjectId: aad-megan, givenName: Megan, surname: Bowen, email: meganb@example.com}
  - {id: "29:adele", name: Adele Vance, userPrincipleName: adelev@example.com, aadObjectId: aad-adele, givenName: Adele, surname: Vance, email: adelev@example.com}
  - {id: "29:isaiah", name: Isaiah Langer, userPrincipleName: isaiahl@example.com, aadObjectId: aad-isaiah, givenName: Isaiah, surname: Langer, email: isaiahl@example.com}
  - {id: "29:patti", name: Patti Fernandez, userPrincipleName: pattif@example.com, aadObjectId: aad-patti, givenName: Patti, surname: Fernandez, email: pattif@example.com}
  - {id: "29:lynne", name: Lynne Robbins, userPrincipleName: lynner@example.com, aadObjectId: aad-lynne, givenName: Lynne, surname: Robbins, email: lynner@example.com}
personalChat: {id: "a:personal-alex"}
groupChat: {id: "19:group@thread.v2", name: Group Chat}
team:
  id: "19:general@thread.tacv2"
  name: SRE
  aadGroupId: 00000000-0000-0000-0000-000000000031
  channels:
    - {id: "19:payments@thread.tacv2", name: Payments}
)";

std::string baton_config(const std::string& db, std::uint16_t playground_port) {
  return R"(
server:
  listen: "127.0.0.1:0"
  public_url: "http://127.0.0.1:8080"
  api_tokens: [{name: ops, token: ")" + std::string(test::kApiToken) + R"("}]
storage: {path: ")" + db + R"(", durability: normal}
teams:
  allow_unauthenticated: true
  connector_base: "http://localhost:)" + std::to_string(playground_port) + R"(/_connector"
people:
  alex: {name: Alex Wilber, email: alexw@example.com, teams_user_id: aad-alex, contact_chain: [{method: teams, after: 0s}]}
escalation_policies:
  main: {steps: [{targets: [{person: alex}], timeout: 5m}]}
services:
  payments: {name: Payments, escalation_policy: main, integration_keys: [key-pay], teams_channel: ")" +
         std::string(kChannel) + R"("}
)";
}

// --- the Playground's process --------------------------------------------------

std::optional<std::string> find_in_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path ? path : "");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    const auto candidate = fs::path(dir.empty() ? "." : dir) / name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
  }
  return std::nullopt;
}

// A port nobody listens on now (the Playground binds every address).
std::uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  socklen_t len = sizeof addr;
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// `node cli.js start ...` in its own process group, in `dir`, output to
/// dir/playground.out. The destructor stops the group (SIGTERM, then SIGKILL),
/// so the Playground and anything it started go with the test, failed or not;
/// PR_SET_PDEATHSIG kills it if the test process itself is killed (a timeout).
class PlaygroundProcess {
 public:
  PlaygroundProcess(const std::string& node, const std::string& cli, const fs::path& dir, std::uint16_t port,
                    const std::string& bot_endpoint)
      : dir_(dir) {
    std::ofstream(dir / "playground.yml") << kPlaygroundConfig;
    // Everything the child needs is built before fork(): after it, only
    // async-signal-safe calls (the test process has threads).
    std::vector<std::string> args = {node, cli, "start", "--app-endpoint", bot_endpoint, "--channel-id", "msteams",
                                     "--port", std::to_string(port), "--disable-telemetry"};
    std::vector<std::string> env;
    for (char** e = environ; *e; ++e) env.emplace_back(*e);
    env.push_back("M365_AGENTS_PLAYGROUND_CONFIG_PATH=" + (dir / "playground.yml").string());
    env.push_back("M365_AGENTS_PLAYGROUND_LOGFILE=" + (dir / "playground.log").string());
    env.push_back("TEAMSAPPTESTER_BROWSER=none");  // no browser window
    std::vector<char*> argv, envp;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    const std::string out = (dir / "playground.out").string();
    const std::string cwd = dir.string();
    const pid_t parent = ::getpid();

    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      ::setpgid(0, 0);
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);  // the test died before prctl
      const int log = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      const int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (log < 0 || null < 0 || ::chdir(cwd.c_str()) != 0) ::_exit(127);
      ::dup2(null, 0);
      ::dup2(log, 1);
      ::dup2(log, 2);
      ::execve(argv[0], argv.data(), envp.data());
      ::_exit(127);
    }
    ::setpgid(pid_, pid_);  // also from here, so the group exists before stop() may need it
  }

  ~PlaygroundProcess() { stop(); }
  PlaygroundProcess(const PlaygroundProcess&) = delete;
  PlaygroundProcess& operator=(const PlaygroundProcess&) = delete;

  bool running() {
    if (pid_ <= 0) return false;
    if (::waitpid(pid_, nullptr, WNOHANG) != pid_) return true;
    ::kill(-pid_, SIGKILL);  // the leader is gone: whatever it started goes too
    pid_ = -1;
    return false;
  }

  void stop() {
    if (pid_ <= 0) return;
    ::kill(-pid_, SIGTERM);
    bool reaped = false;
    for (int i = 0; i < 50 && !reaped; ++i) {
      reaped = ::waitpid(pid_, nullptr, WNOHANG) == pid_;
      if (!reaped) std::this_thread::sleep_for(100ms);
    }
    ::kill(-pid_, SIGKILL);
    if (!reaped) ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  /// The port it listens on, once it says so ("Listening on N"; it takes
  /// another free port when the one asked for is taken).
  std::optional<std::uint16_t> listening() const {
    const auto out = read_file(dir_ / "playground.out");
    const auto at = out.find("Listening on ");
    if (at == std::string::npos || out.find('\n', at) == std::string::npos) return std::nullopt;
    return static_cast<std::uint16_t>(std::stoul(out.substr(at + 13)));
  }

  /// Its log file (what its page's log panel shows is in there too).
  std::string log() const { return read_file(dir_ / "playground.log"); }

  /// Its output and its log file, for failure messages.
  std::string output() const {
    return "--- playground.out\n" + read_file(dir_ / "playground.out") + "--- playground.log\n" + log();
  }

 private:
  fs::path dir_;
  pid_t pid_ = -1;
};

// --- what the Playground's page sees ------------------------------------------

/// A createMessage or updateMessage frame of the conversation stream.
struct Shown {
  std::string action;        ///< "createMessage", "updateMessage"
  std::string conversation;  ///< actionConversationId: a chat, a channel, or a thread "19:..;messageid=.."
  std::string id;            ///< messageId
  std::string text;
  std::string thread;        ///< postConversationId: the thread a channel post starts
  json::object card;         ///< its Adaptive Card, empty without one
};

std::optional<Shown> as_shown(const json::object& frame) {
  const auto* action = frame.if_contains("action");
  const auto* message = frame.if_contains("message");
  if (!action || !action->is_string() || !message || !message->is_object()) return std::nullopt;
  const auto& m = message->as_object();
  const auto str = [](const json::object& o, std::string_view k) {
    const auto* v = o.if_contains(k);
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
  };
  Shown s{std::string(action->as_string()), str(frame, "actionConversationId"), str(m, "messageId"), str(m, "text"),
          str(m, "postConversationId"), {}};
  if (const auto* a = m.if_contains("attachments"); a && a->is_array()) {
    for (const auto& att : a->as_array()) {
      if (att.is_object() && str(att.as_object(), "contentType") == "application/vnd.microsoft.card.adaptive")
        s.card = att.as_object().at("content").as_object();
    }
  }
  return s;
}

std::vector<std::string> verbs(const json::object& card) {
  std::vector<std::string> out;
  if (const auto* actions = card.if_contains("actions"); actions && actions->is_array())
    for (const auto& a : actions->as_array()) out.emplace_back(a.as_object().at("verb").as_string());
  return out;
}

const json::object& action_of(const json::object& card, std::string_view verb) {
  for (const auto& a : card.at("actions").as_array())
    if (a.as_object().at("verb").as_string() == verb) return a.as_object();
  FAIL("the card has no action " << verb << ": " << json::serialize(card));
  throw std::logic_error("unreachable");
}

/// The card's "State" fact.
std::string state_of(const json::object& card) {
  for (const auto& block : card.at("body").as_array()) {
    if (block.as_object().at("type") != "FactSet") continue;
    for (const auto& fact : block.as_object().at("facts").as_array())
      if (fact.as_object().at("title") == "State") return std::string(fact.as_object().at("value").as_string());
  }
  return {};
}

/// The page's WebSocket: every frame the Playground sends, kept in order.
class ConversationStream {
 public:
  explicit ConversationStream(std::uint16_t port) {
    namespace net = boost::asio;
    ws_.next_layer().connect({net::ip::make_address("127.0.0.1"), port});
    ws_.handshake("127.0.0.1:" + std::to_string(port), "/_ws_conversation/v1/conversations/stream");
    reader_ = std::thread([this] {
      boost::beast::flat_buffer buffer;
      for (;;) {
        boost::beast::error_code ec;
        ws_.read(buffer, ec);
        if (ec) return;
        auto text = boost::beast::buffers_to_string(buffer.data());
        buffer.consume(buffer.size());
        boost::system::error_code parse_ec;
        auto v = json::parse(text, parse_ec);
        std::lock_guard lock(mutex_);
        raw_.push_back(std::move(text));
        if (!parse_ec && v.is_object()) frames_.push_back(std::move(v.as_object()));
        changed_.notify_all();
      }
    });
  }
  ~ConversationStream() {
    boost::system::error_code ignored;
    ws_.next_layer().shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);  // ends the blocking read
    reader_.join();
  }

  std::vector<Shown> shown() const {
    std::lock_guard lock(mutex_);
    std::vector<Shown> out;
    for (const auto& f : frames_)
      if (auto s = as_shown(f)) out.push_back(std::move(*s));
    return out;
  }

  /// Everything received, one frame a line (failure messages).
  std::string dump() const {
    std::lock_guard lock(mutex_);
    std::string out;
    for (const auto& r : raw_) out += r.substr(0, 600) + "\n";
    return out;
  }

  /// Waits (bounded) until `pred(shown())` holds.
  template <typename Pred>
  bool wait(Pred pred, std::chrono::seconds limit = 20s) {
    const auto until = std::chrono::steady_clock::now() + limit;
    std::unique_lock lock(mutex_);
    for (;;) {
      lock.unlock();
      if (pred(shown())) return true;
      lock.lock();
      if (changed_.wait_until(lock, until) == std::cv_status::timeout) {
        lock.unlock();
        return pred(shown());
      }
    }
  }

 private:
  boost::asio::io_context ioc_;
  boost::beast::websocket::stream<boost::asio::ip::tcp::socket> ws_{ioc_};
  std::thread reader_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<json::object> frames_;
  std::vector<std::string> raw_;
};

/// A REST call to the Playground as its page makes it; the answer's body as JSON (null when empty).
/// A GET without a body.
json::value playground_call(std::uint16_t port, const std::string& path, const std::optional<json::object>& body) {
  integrations::HttpClient http;
  integrations::HttpRequest req;
  req.method = body ? "POST" : "GET";
  req.url = "http://127.0.0.1:" + std::to_string(port) + path;
  if (body) req.headers = {{"Content-Type", "application/json"}};
  if (body) req.body = json::serialize(*body);
  req.timeout = 30s;
  auto res = http.request(req);
  if (!res) FAIL(req.method << " " << path << ": " << res.error().message);
  INFO(path << " answered " << res->status << ": " << res->body);
  REQUIRE(res->status / 100 == 2);
  return res->body.empty() ? json::value() : json::parse(res->body);
}

// Cards whose title is incident #1's, shown in `conversation`.
std::vector<Shown> cards_in(const std::vector<Shown>& shown, std::string_view conversation, std::string_view action) {
  std::vector<Shown> out;
  for (const auto& s : shown) {
    if (s.conversation != conversation || s.action != action || s.card.empty()) continue;
    const auto& title = s.card.at("body").as_array().at(0).as_object().at("text").as_string();
    if (title.starts_with("#1 ")) out.push_back(s);
  }
  return out;
}

bool text_in(const std::vector<Shown>& shown, std::string_view conversation, std::string_view text) {
  return std::any_of(shown.begin(), shown.end(), [&](const Shown& s) {
    return s.action == "createMessage" && s.conversation == conversation && s.text.find(text) != std::string::npos;
  });
}

using ShownPred = std::function<bool(const std::vector<Shown>&)>;

/// Waits (bounded) for the page to show what `pred` looks for; fails with all it showed.
void require_shown(ConversationStream& page, const ShownPred& pred, std::string_view what) {
  if (!page.wait(pred)) FAIL("the Playground did not show " << what << "; it showed:\n" << page.dump());
}

}  // namespace

TEST_CASE("teams: end to end with Microsoft 365 Agents Playground", "[teams][playground]") {
  // Scenario: baton (allow_unauthenticated, no app registration) and the real
  // Playground. The Playground's HEAD probe of /api/messages connects. "help"
  // typed in the 1:1 chat is answered. An alert pages Alex exactly once, as an
  // Adaptive Card in his 1:1 chat, and starts a thread with the card in the
  // service's channel. Acknowledge pressed as Action.Execute acknowledges the
  // incident, and the invoke answer is the refreshed card without that
  // button; Resolve sent through the card's Action.Submit fallback resolves
  // it. The channel's card is updated in place on each change and each change
  // is replied in its thread. Nothing "gave up" on the timeline.
  const auto cli = fs::path(BATON_SOURCE_DIR) / "tests/playground/node_modules/@microsoft/m365agentsplayground/cli.js";
  const auto node = find_in_path("node");
  if (!node) {
    WARN("BATON-SKIPPED: node is not installed (bash scripts/deps.sh installs it and the Playground)");
    return;
  }
  if (!fs::exists(cli)) {
    WARN("BATON-SKIPPED: the Agents Playground is not installed at " << cli.string() << " (run bash scripts/deps.sh)");
    return;
  }

  test::TempDb db;
  test::FakeClock clock;
  const auto pg_port = free_port();
  test::ServiceHarness svc(clock, baton_config(db.path(), pg_port));
  PlaygroundProcess playground(*node, cli.string(), db.dir, pg_port, svc.base + "/api/messages");
  // Not a connect() loop: while it looks for a free port, the Playground
  // listens on the port for a moment and closes it again.
  const bool up = test::eventually([&] { return playground.listening() || !playground.running(); });
  if (!up || playground.listening() != pg_port)
    FAIL("the Playground did not start on port " << pg_port << "\n" << playground.output());

  // The page loads its configuration; the Playground first probes baton's
  // endpoint with HEAD (for up to 15 s) and logs "Connected." or, when the
  // answer cannot be read (a HEAD answer with a body), "Cannot connect to your app".
  const auto tenant = playground_call(pg_port, "/_internal/v1/config", std::nullopt);
  CHECK(tenant.at("config").at("personalChat").at("id") == kPersonalChat);
  if (playground.log().find("\"Connected.\"") == std::string::npos ||
      playground.log().find("Cannot connect") != std::string::npos)
    FAIL("the Playground could not connect to baton\n" << playground.output());
  ConversationStream page(pg_port);

  // "help" in the 1:1 chat is answered there (and baton learns Alex's Teams id).
  playground_call(pg_port, std::string("/_conversation/v1/conversations/") + kPersonalChat + "/messages",
                  json::object{{"type", "text"}, {"text", "help"}, {"textFormat", "plain"}, {"from", {{"id", kUser}}}});
  require_shown(page, [](const auto& shown) { return text_in(shown, kPersonalChat, "baton commands"); },
                "the answer to help");

  // The page: once, as a card, in Alex's chat; a new thread in the channel.
  REQUIRE(svc.call("POST", "/v2/enqueue",
                   json::serialize(json::object{{"routing_key", "key-pay"},
                                                {"event_action", "trigger"},
                                                {"dedup_key", "checkout"},
                                                {"payload", {{"summary", "Checkout errors above 5%"},
                                                             {"source", "api-1"},
                                                             {"severity", "critical"}}}}),
                   "application/json", false)
              .status == 202);
  require_shown(page, [](const auto& shown) {
    return cards_in(shown, kPersonalChat, "createMessage").size() == 1 &&
           cards_in(shown, kChannel, "createMessage").size() == 1;
  }, "the page's cards in the chat and the channel");
  for (int i = 0; i < 10; ++i) {  // well past every retry the dispatcher would make
    clock.advance(2s);
    svc.app->incidents().poke();
    std::this_thread::sleep_for(50ms);
  }
  svc.app->incidents().drain();
  std::this_thread::sleep_for(500ms);  // a duplicate would show by now
  auto shown = page.shown();
  const auto dm_cards = cards_in(shown, kPersonalChat, "createMessage");
  REQUIRE(dm_cards.size() == 1);
  const auto dm_card = dm_cards.front();
  CHECK(verbs(dm_card.card) == std::vector<std::string>{"baton.ack", "baton.resolve", "baton.escalate"});
  const auto roots = cards_in(shown, kChannel, "createMessage");
  REQUIRE(roots.size() == 1);
  const auto root = roots.front();
  const std::string thread = std::string(kChannel) + ";messageid=" + root.id;
  CHECK(root.thread == thread);
  CHECK(state_of(root.card) == "Triggered");
  CHECK(svc.timeline_text(1).find("gave up") == std::string::npos);

  // Acknowledge, as Action.Execute on the card in the chat: the answer is the
  // refreshed card without Acknowledge.
  const auto& ack = action_of(dm_card.card, "baton.ack");
  const json::object pressed{{"type", "Action.Execute"}, {"verb", ack.at("verb")}, {"data", ack.at("data")}};
  const auto answer = playground_call(
      pg_port, "/_conversation/v1/invoke",
      json::object{{"name", "adaptiveCard/action"},
                   {"value", {{"action", pressed}, {"trigger", "manual"}}},
                   {"from", {{"id", kUser}}},
                   {"conversation", {{"id", kPersonalChat}}},
                   {"replyToId", dm_card.id}});
  INFO(json::serialize(answer));
  REQUIRE(answer.is_object());
  CHECK(answer.at("type") == "application/vnd.microsoft.card.adaptive");
  const auto refreshed = answer.at("value").as_object();
  CHECK(verbs(refreshed) == std::vector<std::string>{"baton.resolve", "baton.escalate"});
  CHECK(state_of(refreshed) == "Acknowledged");
  CHECK(svc.get_json("/api/v1/incidents/1").at("state") == "acknowledged");
  CHECK(svc.timeline_text(1).find("Acknowledged by alex via teams") != std::string::npos);

  // The channel: the thread's card updated in place, the change replied in the thread.
  const auto updated_to = [&](std::string_view state) {
    return [&, state](const std::vector<Shown>& s) {
      for (const auto& u : cards_in(s, kChannel, "updateMessage"))
        if (u.id == root.id && state_of(u.card) == state) return true;
      return false;
    };
  };
  require_shown(page, updated_to("Acknowledged"), "the channel's card updated to Acknowledged");
  require_shown(page, [&](const auto& s) { return text_in(s, thread, "Acknowledged by Alex Wilber"); },
                "the acknowledgement replied in the thread");

  // Resolve, through the Action.Submit fallback of the refreshed card, a while later.
  clock.advance(30s);
  const auto& resolve = action_of(refreshed, "baton.resolve");
  playground_call(pg_port, "/_conversation/v1/submit",
                  json::object{{"conversation", {{"id", kPersonalChat}}},
                               {"replyToId", dm_card.id},
                               {"value", resolve.at("fallback").at("data")},
                               {"from", {{"id", kUser}}}});
  CHECK(test::eventually([&] { return svc.get_json("/api/v1/incidents/1").at("state") == "resolved"; }));
  require_shown(page, [](const auto& s) { return text_in(s, kPersonalChat, "Incident #1 resolved."); },
                "the answer to Resolve in the chat");
  require_shown(page, updated_to("Resolved"), "the channel's card updated to Resolved");
  require_shown(page, [&](const auto& s) { return text_in(s, thread, "Resolved"); },
                "the resolution replied in the thread");

  svc.app->incidents().drain();
  shown = page.shown();
  CHECK(cards_in(shown, kChannel, "createMessage").size() == 1);  // one thread, updated in place
  for (const auto& u : cards_in(shown, kChannel, "updateMessage")) {
    CHECK(u.id == root.id);
    if (state_of(u.card) == "Resolved") CHECK(verbs(u.card).empty());
  }
  const auto timeline = svc.timeline_text(1);
  INFO(timeline);
  CHECK(timeline.find("Resolved by alex via teams") != std::string::npos);
  CHECK(timeline.find("gave up") == std::string::npos);
}
