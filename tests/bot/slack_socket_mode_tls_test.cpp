// Socket Mode over TLS (wss://): a minimal TLS WebSocket peer with a
// certificate made at test time. The client must send SNI, verify the peer
// against the configured CA and check the host name; with a CA that does not
// sign the peer's certificate it must not connect.
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <catch2/catch.hpp>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <thread>
#include <unistd.h>

#include "integrations/slack/socket_mode.hpp"
#include "tests/support/fake_slack.hpp"
#include "tests/support/service_harness.hpp"

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

namespace {

/// A self-signed certificate for localhost, made with openssl(1).
struct TestCert {
  std::filesystem::path dir;
  explicit TestCert(const std::string& cn) {
    dir = std::filesystem::temp_directory_path() / ("baton-tls-" + std::to_string(::getpid()) + "-" + cn);
    std::filesystem::create_directories(dir);
    const auto cmd = "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=" + cn +
                     " -addext subjectAltName=DNS:" + cn + " -keyout " + (dir / "key.pem").string() + " -out " +
                     (dir / "cert.pem").string() + " >/dev/null 2>&1";
    REQUIRE(std::system(cmd.c_str()) == 0);
  }
  ~TestCert() { std::filesystem::remove_all(dir); }
  std::string cert() const { return (dir / "cert.pem").string(); }
  std::string key() const { return (dir / "key.pem").string(); }
};

/// Accepts TLS WebSocket connections, says hello, pushes one envelope and
/// records the ack (or that the TLS handshake failed).
struct TlsPeer {
  net::io_context ioc;
  ssl::context ctx{ssl::context::tlsv12_server};
  tcp::acceptor acceptor{ioc, {net::ip::make_address("127.0.0.1"), 0}};
  std::thread thread;
  std::atomic<bool> handshake_failed{false};
  std::atomic<bool> got_ack{false};
  std::atomic<bool> stopping{false};
  std::atomic<bool> finished{false};
  std::string sni;
  std::string ack;

  explicit TlsPeer(const TestCert& cert) {
    ctx.use_certificate_chain_file(cert.cert());
    ctx.use_private_key_file(cert.key(), ssl::context::pem);
    thread = std::thread([this] { serve(); });
  }
  ~TlsPeer() {
    // A blocking accept is not woken by close(): connect to it instead.
    stopping = true;
    for (int i = 0; i < 4 && !finished; ++i) {
      net::io_context io;
      tcp::socket s(io);
      beast::error_code ec;
      s.connect({net::ip::make_address("127.0.0.1"), port()}, ec);
      std::this_thread::sleep_for(20ms);
    }
    if (thread.joinable()) thread.join();
  }
  unsigned short port() const { return acceptor.local_endpoint().port(); }

  void serve() {
    serve_connections();
    finished = true;
  }

  void serve_connections() {
    for (int i = 0; i < 3 && !got_ack; ++i) {
      beast::error_code ec;
      tcp::socket socket(ioc);
      acceptor.accept(socket, ec);
      if (ec || stopping) return;
      websocket::stream<ssl::stream<tcp::socket>> ws(std::move(socket), ctx);
      ws.next_layer().handshake(ssl::stream_base::server, ec);
      if (ec) {
        handshake_failed = true;
        continue;
      }
      if (const char* name = SSL_get_servername(ws.next_layer().native_handle(), TLSEXT_NAMETYPE_host_name))
        sni = name;
      ws.accept(ec);
      if (ec) continue;
      ws.text(true);
      ws.write(net::buffer(std::string(R"({"type":"hello","num_connections":1})")), ec);
      ws.write(net::buffer(std::string(
                   R"({"envelope_id":"tls-1","type":"events_api","payload":{},"accepts_response_payload":false,"retry_attempt":0})")),
               ec);
      beast::flat_buffer buffer;
      ws.read(buffer, ec);
      if (!ec) {
        ack = beast::buffers_to_string(buffer.data());
        got_ack = true;
      }
      ws.close(websocket::close_code::normal, ec);
    }
  }
};

}  // namespace

TEST_CASE("Socket Mode over wss:// verifies the peer, sends SNI and acks", "[socket_mode][tls]") {
  TestCert cert("localhost");
  TlsPeer peer(cert);
  std::atomic<int> handled{0};
  baton::slack::SocketModeOptions options;
  options.ca_file = cert.cert();
  options.initial_backoff = 50ms;
  options.max_backoff = 200ms;
  options.open_url = [&]() -> baton::Result<std::string> {
    return "wss://localhost:" + std::to_string(peer.port()) + "/link/?ticket=1";
  };
  baton::slack::SlackSocketMode client(options, [&](const baton::slack::Envelope&, baton::slack::AckFn ack) {
    ++handled;
    ack(std::nullopt);
  });
  client.start();
  for (int i = 0; i < 500 && !peer.got_ack; ++i) std::this_thread::sleep_for(10ms);
  client.stop();
  REQUIRE(peer.got_ack);
  CHECK(peer.ack.find("\"envelope_id\":\"tls-1\"") != std::string::npos);
  CHECK(peer.sni == "localhost");
  CHECK(handled == 1);
}

TEST_CASE("Socket Mode over wss:// refuses a peer its CA does not vouch for", "[socket_mode][tls]") {
  // Scenario: the peer's certificate is self-signed by another key than the
  // configured CA file: the TLS handshake fails, no envelope is handled.
  TestCert served("localhost");
  TestCert other("localhost-other");
  TlsPeer peer(served);
  std::atomic<int> handled{0};
  baton::slack::SocketModeOptions options;
  options.ca_file = other.cert();
  options.initial_backoff = 50ms;
  options.max_backoff = 200ms;
  options.open_url = [&]() -> baton::Result<std::string> {
    return "wss://localhost:" + std::to_string(peer.port()) + "/link/?ticket=1";
  };
  baton::slack::SlackSocketMode client(options, [&](const baton::slack::Envelope&, baton::slack::AckFn ack) {
    ++handled;
    ack(std::nullopt);
  });
  client.start();
  for (int i = 0; i < 300 && !peer.handshake_failed; ++i) std::this_thread::sleep_for(10ms);
  client.stop();
  CHECK(peer.handshake_failed);
  CHECK_FALSE(peer.got_ack);
  CHECK(handled == 0);
}

TEST_CASE("Socket Mode's TLS trust comes from the configuration's slack section", "[socket_mode][tls]") {
  // Scenario: Slack's WebSocket server presents a certificate of a CA the
  // system store does not know (here a test peer's; in production a
  // TLS-inspecting proxy's). `slack.ca_file` names the bundle baton trusts
  // for it: baton in socket mode gets the wss:// URL from
  // apps.connections.open, verifies the peer (SNI, chain and host name)
  // against that file and acks the envelope.
  TestCert cert("localhost");
  TlsPeer peer(cert);
  baton::test::TempDb db;
  baton::test::FakeClock clock;
  baton::test::FakeSlack fake;
  fake.set_socket_url("wss://localhost:" + std::to_string(peer.port()) + "/link/?ticket=1");
  const std::string yaml = R"(
server: {listen: "127.0.0.1:0"}
storage: {path: ")" + db.path() + R"(", durability: normal}
slack:
  mode: socket
  base_url: ")" + fake.base_url() + R"("
  bot_token: xoxb-test-token
  app_token: xapp-test-token
  ca_file: ")" + cert.cert() + R"("
people:
  alice: {name: Alice, email: alice@example.com, contact_chain: [{method: slack, after: 0s}]}
escalation_policies:
  main: {steps: [{targets: [{person: alice}], timeout: 5m}]}
services:
  payments: {name: Payments, escalation_policy: main, integration_keys: [key-pay]}
)";
  baton::test::ServiceHarness svc(clock, yaml);
  for (int i = 0; i < 1000 && !peer.got_ack; ++i) std::this_thread::sleep_for(10ms);
  REQUIRE(peer.got_ack);
  CHECK(peer.ack.find("\"envelope_id\":\"tls-1\"") != std::string::npos);
  CHECK(peer.sni == "localhost");
}
