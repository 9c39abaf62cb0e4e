#include "integrations/common/text.hpp"
#include "integrations/email/smtp_client.hpp"

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <unordered_map>
#include <utility>

// One session per message, every step a completion handler on the session's
// strand: resolve, connect, (TLS for smtps://, RFC 8314 section 3), greeting,
// EHLO, (STARTTLS and EHLO again, RFC 3207), (AUTH, RFC 4954), MAIL, RCPT...,
// DATA, the dot-stuffed data and ".", then QUIT (RFC 5321 sections 3.3, 4.1,
// 4.5.2). One steady_timer bounds the whole exchange by closing the socket.

namespace baton::integrations {
namespace asio = boost::asio;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using Failure = SmtpOutcome::Failure;

namespace {

constexpr std::size_t kMaxReply = 64 * 1024;     // a reply longer than this is not SMTP
constexpr auto kQuitWait = std::chrono::seconds(1);  // for QUIT's reply, after the outcome is known
constexpr auto kResolvedFor = std::chrono::seconds(60);  // a relay's addresses are reused this long
constexpr std::string_view kCancelled = "cancelled: the SMTP client is shutting down";

struct Endpoint {
  std::string host;  // without [] for IPv6
  std::string port;
  bool implicit_tls = false;
  std::string ehlo_domain;
};

std::string local_host_name() {
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) == 0 && name[0] != '\0') return name;
  return "localhost";
}

// smtp://host[:port][/ehlo-domain] or smtps://...; std::invalid_argument otherwise.
Endpoint parse_url(std::string_view url) {
  auto bad = [&](std::string_view why) {
    return std::invalid_argument("smtp url " + std::string(why) + ": '" + std::string(url) + "'");
  };
  Endpoint e;
  std::string_view rest;
  if (url.starts_with("smtps://")) {
    e.implicit_tls = true;
    rest = url.substr(8);
  } else if (url.starts_with("smtp://")) {
    rest = url.substr(7);
  } else {
    throw bad("must start with smtp:// or smtps://");
  }
  const auto end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, end);
  std::string_view path = end == std::string_view::npos ? std::string_view() : rest.substr(end);
  if (authority.find('@') != std::string_view::npos) {
    throw std::invalid_argument("smtp url must not contain credentials");  // not echoed
  }
  std::string_view port;
  if (authority.starts_with("[")) {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) throw bad("has a bad host");
    e.host = authority.substr(1, close - 1);
    port = authority.substr(close + 1);
    if (!port.empty() && !port.starts_with(":")) throw bad("has a bad host");
  } else {
    const auto colon = authority.find(':');
    e.host = authority.substr(0, colon);
    if (colon != std::string_view::npos) port = authority.substr(colon);
  }
  if (e.host.empty()) throw bad("has no host");
  if (!port.empty()) {
    port.remove_prefix(1);
    int n = 0;
    const auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), n);
    if (port.empty() || ec != std::errc{} || p != port.data() + port.size() || n < 1 || n > 65535) {
      throw bad("has a bad port");
    }
    e.port = std::to_string(n);
  } else {
    e.port = e.implicit_tls ? "465" : "25";
  }
  if (path.starts_with("/")) path.remove_prefix(1);
  path = path.substr(0, path.find_first_of("?#"));
  for (char c : path) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) throw bad("has a bad EHLO domain");
  }
  e.ehlo_domain = path.empty() ? local_host_name() : std::string(path);
  return e;
}

bool usable_address(std::string_view a) {
  return !a.empty() && a.find_first_of("\r\n<>") == std::string_view::npos;
}

std::string base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(std::max(n, 0)));
  return out;
}

// Server text for a message: control characters become spaces, at most 300 bytes.
std::string printable(std::string_view text) {
  std::string out(text.substr(0, 300));
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < ' ' || c == 0x7f) c = ' ';
  }
  return out;
}

// A reply (RFC 5321 section 4.2): "250-first", ..., "250 last".
struct Reply {
  int code = 0;  // -1: malformed
  std::vector<std::string> lines;  // the text after "NNN-" / "NNN "
  std::string text() const {
    std::string out = std::to_string(code);
    for (std::size_t i = 0; i < lines.size(); ++i) out += (i == 0 ? " " : " / ") + lines[i];
    return printable(out);
  }
};

// Takes one complete reply off the front of `in`; nullopt while incomplete.
std::optional<Reply> take_reply(std::string& in) {
  Reply reply;
  std::size_t pos = 0;
  for (;;) {
    const auto nl = in.find('\n', pos);
    if (nl == std::string::npos) return std::nullopt;
    std::string_view line(in.data() + pos, nl - pos);
    pos = nl + 1;
    if (line.ends_with('\r')) line.remove_suffix(1);
    int code = 0;
    const bool digits = line.size() >= 3 && std::all_of(line.begin(), line.begin() + 3, [](char c) {
                          return c >= '0' && c <= '9';
                        });
    if (!digits || (line.size() > 3 && line[3] != ' ' && line[3] != '-')) {
      in.erase(0, pos);
      reply.code = -1;
      return reply;
    }
    std::from_chars(line.data(), line.data() + 3, code);
    reply.code = code;
    reply.lines.emplace_back(line.size() > 4 ? line.substr(4) : std::string_view());
    if (line.size() == 3 || line[3] == ' ') {
      in.erase(0, pos);
      return reply;
    }
  }
}

// What EHLO's reply offers (RFC 5321 section 4.1.1.1; AUTH, RFC 4954 section 3).
struct Extensions {
  bool starttls = false;
  bool auth = false;
  bool plain = false;
  bool login = false;
  std::string mechanisms;
};

Extensions extensions_of(const Reply& ehlo) {
  Extensions ext;
  for (std::size_t i = 1; i < ehlo.lines.size(); ++i) {  // the first line is the server's name
    const std::string line = upper(ehlo.lines[i]);
    if (line == "STARTTLS") ext.starttls = true;
    // "AUTH PLAIN LOGIN"; some servers still say "AUTH=PLAIN LOGIN".
    if (line.starts_with("AUTH ") || line.starts_with("AUTH=")) {
      ext.auth = true;
      ext.mechanisms = line.substr(5);
      std::string_view rest = ext.mechanisms;
      while (!rest.empty()) {
        const auto space = rest.find(' ');
        const auto word = rest.substr(0, space);
        if (word == "PLAIN") ext.plain = true;
        if (word == "LOGIN") ext.login = true;
        rest = space == std::string_view::npos ? std::string_view() : rest.substr(space + 1);
      }
    }
  }
  return ext;
}

// Lines split at LF (a CR before it dropped), each sent with CRLF and a leading
// "." doubled (RFC 5321 section 4.5.2), then the "." line.
std::string dot_stuffed(std::string_view data) {
  std::string out;
  out.reserve(data.size() + data.size() / 32 + 8);
  while (!data.empty()) {
    const auto nl = data.find('\n');
    std::string_view line = data.substr(0, nl);
    data = nl == std::string_view::npos ? std::string_view() : data.substr(nl + 1);
    if (line.ends_with('\r')) line.remove_suffix(1);
    if (line.starts_with('.')) out += '.';
    out += line;
    out += "\r\n";
  }
  out += ".\r\n";
  return out;
}

}  // namespace

struct SmtpClient::Impl : std::enable_shared_from_this<Impl> {
  struct Session;
  using Resolved = std::function<void(boost::system::error_code, tcp::resolver::results_type)>;

  Impl(asio::io_context& io, const EmailConfig& c)
      : io(io),
        config(c),
        endpoint(parse_url(c.url)),
        tls(ssl::context::tls_client),
        resolve_strand(asio::make_strand(io)),
        resolver(resolve_strand) {
    // An address needs no resolver (Asio's runs getaddrinfo on a thread of its own).
    boost::system::error_code not_ip;
    const auto address = asio::ip::make_address(endpoint.host, not_ip);
    if (!not_ip) {
      resolved = tcp::resolver::results_type::create(
          tcp::endpoint(address, static_cast<unsigned short>(std::stoi(endpoint.port))), endpoint.host, endpoint.port);
      resolved_until = std::chrono::steady_clock::time_point::max();
    }
    SSL_CTX_set_min_proto_version(tls.native_handle(), TLS1_2_VERSION);
    if (!config.verify_peer) {
      tls.set_verify_mode(ssl::verify_none);
      return;
    }
    tls.set_verify_mode(ssl::verify_peer);
    boost::system::error_code ec;
    if (config.ca_file.empty()) {
      tls.set_default_verify_paths(ec);
      if (ec) tls_problem = "cannot load the system's CA certificates: " + ec.message();
    } else {
      tls.load_verify_file(config.ca_file, ec);
      if (ec) tls_problem = "cannot load ca_file " + config.ca_file + ": " + ec.message();
    }
  }

  // The relay's addresses, for every session: one lookup at a time, its result
  // kept for kResolvedFor, so a burst of sends does not queue on the resolver's
  // one thread. `then` runs on resolve_strand.
  void resolve(Resolved then) {
    asio::post(resolve_strand, [self = shared_from_this(), then = std::move(then)]() mutable {
      if (!self->resolved.empty() && std::chrono::steady_clock::now() < self->resolved_until) {
        return then({}, self->resolved);
      }
      self->resolving.push_back(std::move(then));
      if (self->resolving.size() > 1) return;
      self->resolver.async_resolve(
          self->endpoint.host, self->endpoint.port,
          [self](boost::system::error_code ec, tcp::resolver::results_type results) {
            if (!ec) {
              self->resolved = results;
              self->resolved_until = std::chrono::steady_clock::now() + kResolvedFor;
            }
            auto waiting = std::move(self->resolving);
            self->resolving.clear();
            for (auto& w : waiting) w(ec, results);
          });
    });
  }

  // After a failed connect: the next send looks the name up again.
  void forget_addresses() {
    asio::post(resolve_strand, [self = shared_from_this()] {
      if (self->resolved_until != std::chrono::steady_clock::time_point::max()) self->resolved_until = {};
    });
  }

  void forget(const Session* s) {
    std::lock_guard lock(mutex);
    sessions.erase(s);
  }

  asio::io_context& io;
  const EmailConfig config;
  const Endpoint endpoint;
  ssl::context tls;
  std::string tls_problem;  // why TLS cannot be used, empty if it can

  // resolve_strand's.
  asio::strand<asio::io_context::executor_type> resolve_strand;
  tcp::resolver resolver;
  std::vector<Resolved> resolving;
  tcp::resolver::results_type resolved;
  std::chrono::steady_clock::time_point resolved_until;

  mutable std::mutex mutex;
  bool shut_down = false;
  std::unordered_map<const Session*, std::weak_ptr<Session>> sessions;
};

struct SmtpClient::Impl::Session : std::enable_shared_from_this<Session> {
  using ReplyHandler = std::function<void(Reply)>;
  enum class Stage { resolve, connect, handshake, talk, quit };

  Session(std::shared_ptr<Impl> owner, SmtpMail m, Done d)
      : client(std::move(owner)),
        strand(asio::make_strand(client->io)),
        stream(tcp::socket(strand), client->tls),
        deadline(strand),
        mail(std::move(m)),
        done(std::move(d)) {}

  const EmailConfig& config() const { return client->config; }
  const Endpoint& endpoint() const { return client->endpoint; }

  // ---- all of the below on the strand ----

  void start() {
    if (closed) return;
    arm(config().timeout);
    stage = Stage::resolve;
    doing = "resolving " + endpoint().host;
    client->resolve([self = shared_from_this()](boost::system::error_code ec, tcp::resolver::results_type r) {
      asio::post(self->strand, [self, ec, r = std::move(r)] {
        if (self->ok(ec)) self->connect(r);
      });
    });
  }

  void connect(const tcp::resolver::results_type& results) {
    stage = Stage::connect;
    doing = "connecting to " + endpoint().host + ":" + endpoint().port;
    asio::async_connect(stream.lowest_layer(), results,
                        [self = shared_from_this()](boost::system::error_code ec, const tcp::endpoint&) {
                          if (!self->ok(ec)) return;
                          boost::system::error_code ignored;
                          self->stream.lowest_layer().set_option(tcp::no_delay(true), ignored);
                          if (self->endpoint().implicit_tls) {
                            self->handshake([self] { self->greeting(); });
                          } else {
                            self->greeting();
                          }
                        });
  }

  void handshake(std::function<void()> then) {
    if (!client->tls_problem.empty()) {
      return fail(Failure::tls, "SMTP: " + client->tls_problem);
    }
    const std::string& host = endpoint().host;
    SSL* ssl_handle = stream.native_handle();
    boost::system::error_code not_ip;
    asio::ip::make_address(host, not_ip);
    // SNI for names only (RFC 6066 section 3); the certificate must match the
    // name or the IP address (RFC 6125; https://docs.openssl.org/3.0/man3/SSL_set1_host/).
    if (not_ip) SSL_set_tlsext_host_name(ssl_handle, host.c_str());
    if (config().verify_peer) {
      X509_VERIFY_PARAM* param = SSL_get0_param(ssl_handle);
      if (not_ip) {
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        SSL_set1_host(ssl_handle, host.c_str());
      } else {
        X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str());
      }
    }
    stage = Stage::handshake;
    doing = "the TLS handshake with " + host;
    stream.async_handshake(ssl::stream_base::client,
                           [self = shared_from_this(), then = std::move(then)](boost::system::error_code ec) {
                             if (!self->ok(ec)) return;
                             self->tls_on = true;
                             self->stage = Stage::talk;
                             then();
                           });
  }

  void greeting() {
    stage = Stage::talk;
    doing = "the greeting";
    read_reply([self = shared_from_this()](Reply r) {
      if (r.code != 220) return self->refused("greeting", r);
      self->ehlo();
    });
  }

  void ehlo() {
    command("EHLO " + endpoint().ehlo_domain, "EHLO", [self = shared_from_this()](Reply r) {
      if (r.code == 250) {
        self->ext = extensions_of(r);
        return self->after_ehlo();
      }
      if (r.code < 500 || r.code > 599) return self->refused("EHLO", r);
      // A server without EHLO (RFC 5321 section 3.2): HELO, and no extensions.
      self->command("HELO " + self->endpoint().ehlo_domain, "HELO", [self](Reply helo) {
        if (helo.code != 250) return self->refused("HELO", helo);
        self->ext = {};
        self->after_ehlo();
      });
    });
  }

  void after_ehlo() {
    if (tls_on) return auth();
    if (ext.starttls) return starttls();
    if (config().require_starttls) {
      return fail(Failure::starttls_unavailable, "SMTP: the server's EHLO reply offers no STARTTLS");
    }
    auth();  // starttls: optional, in the clear
  }

  void starttls() {
    command("STARTTLS", "STARTTLS", [self = shared_from_this()](Reply r) {
      if (r.code != 220) {
        if (self->config().require_starttls) {
          return self->fail(Failure::starttls_unavailable, "SMTP: STARTTLS refused: " + r.text(), r.code);
        }
        return self->auth();  // optional: go on in the clear, as the server said no
      }
      // Nothing may follow the 220 in the clear: it would be read as if sent
      // over TLS (the command injection of RFC 7457 section 2.1).
      if (!self->in.empty()) return self->fail(Failure::protocol, "SMTP: the server sent data after its STARTTLS reply");
      // After TLS, EHLO again: what was offered before does not count (RFC 3207 section 4.2).
      self->handshake([self] {
        self->ext = {};
        self->ehlo();
      });
    });
  }

  void auth() {
    const EmailConfig& c = config();
    if (login_only && !c.username.empty() && !ext.auth) {
      fail(Failure::auth, "SMTP: a username is configured but the server's EHLO reply offers no AUTH");
      return;
    }
    if (c.username.empty() || !ext.auth) return mail_from();
    auto self = shared_from_this();
    if (ext.plain) {
      // RFC 4954 section 4 initial response; RFC 4616: authzid NUL authcid NUL passwd.
      std::string token = base64(std::string(1, '\0') + c.username + '\0' + c.password);
      return command("AUTH PLAIN " + token, "AUTH PLAIN", [self](Reply r) { self->authenticated("AUTH PLAIN", r); });
    }
    if (ext.login) {
      return command("AUTH LOGIN", "AUTH LOGIN", [self](Reply r) {
        if (r.code != 334) return self->authenticated("AUTH LOGIN", r);
        self->command(base64(self->config().username), "AUTH LOGIN", [self](Reply user) {
          if (user.code != 334) return self->authenticated("AUTH LOGIN", user);
          self->command(base64(self->config().password), "AUTH LOGIN",
                        [self](Reply pass) { self->authenticated("AUTH LOGIN", pass); });
        });
      });
    }
    fail(Failure::auth, "SMTP: the server offers AUTH " + printable(ext.mechanisms) +
                            ", none of which this client speaks (PLAIN, LOGIN)");
  }

  void authenticated(const char* what, const Reply& r) {
    if (r.code == 235) return mail_from();
    if (r.code >= 400 && r.code < 500) return refused(what, r);  // e.g. 454: try again later
    report({Failure::auth, r.code, std::string("SMTP: ") + what + " refused: " + r.text()});
    quit();
  }

  void mail_from() {
    if (login_only) {  // check_login(): connected, TLS and AUTH done; no transaction
      report({});
      return quit();
    }
    command("MAIL FROM:<" + mail.from + ">", "MAIL FROM", [self = shared_from_this()](Reply r) {
      if (r.code != 250) return self->refused("MAIL FROM", r);
      self->rcpt_to(0);
    });
  }

  void rcpt_to(std::size_t i) {
    if (i == mail.to.size()) return data();
    command("RCPT TO:<" + mail.to[i] + ">", "RCPT TO", [self = shared_from_this(), i](Reply r) {
      if (r.code != 250 && r.code != 251) return self->refused("RCPT TO <" + self->mail.to[i] + ">", r);
      self->rcpt_to(i + 1);
    });
  }

  void data() {
    command("DATA", "DATA", [self = shared_from_this()](Reply r) {
      if (r.code != 354) return self->refused("DATA", r);
      self->doing = "the reply to the end of the data";
      self->write(dot_stuffed(self->mail.data), [self] {
        self->read_reply([self](Reply end) {
          if (end.code != 250) return self->refused("DATA (the message)", end);
          self->report({});
          self->quit();
        });
      });
    });
  }

  // The outcome is known: QUIT (RFC 5321 section 4.1.1.10), its reply waited
  // for a little, then close.
  void quit() {
    stage = Stage::quit;
    doing = "the reply to QUIT";
    arm(kQuitWait);
    auto self = shared_from_this();
    write("QUIT\r\n", [self] { self->read_reply([self](Reply) { self->close(); }); });
  }

  // ---- I/O ----

  void command(std::string line, const char* what, ReplyHandler then) {
    doing = std::string("the reply to ") + what;
    line += "\r\n";
    write(std::move(line), [self = shared_from_this(), then = std::move(then)]() mutable {
      self->read_reply(std::move(then));
    });
  }

  void write(std::string bytes, std::function<void()> then) {
    out = std::move(bytes);
    auto handler = [self = shared_from_this(), then = std::move(then)](boost::system::error_code ec, std::size_t) {
      if (self->ok(ec)) then();
    };
    if (tls_on) {
      asio::async_write(stream, asio::buffer(out), std::move(handler));
    } else {
      asio::async_write(stream.next_layer(), asio::buffer(out), std::move(handler));
    }
  }

  void read_reply(ReplyHandler then) {
    if (auto reply = take_reply(in)) {
      if (reply->code < 0) return fail(Failure::protocol, "SMTP: a malformed reply (" + doing + ")");
      return then(std::move(*reply));
    }
    if (in.size() > kMaxReply) return fail(Failure::protocol, "SMTP: a reply of over 64 KiB (" + doing + ")");
    auto handler = [self = shared_from_this(), then = std::move(then)](boost::system::error_code ec,
                                                                         std::size_t n) mutable {
      if (!self->ok(ec)) return;
      self->in.append(self->chunk.data(), n);
      self->read_reply(std::move(then));
    };
    if (tls_on) {
      stream.async_read_some(asio::buffer(chunk), std::move(handler));
    } else {
      stream.next_layer().async_read_some(asio::buffer(chunk), std::move(handler));
    }
  }

  // ---- endings ----

  void arm(std::chrono::milliseconds after) {
    deadline.expires_after(after);
    deadline.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (!ec && !self->closed) self->stop(Failure::timeout);
    });
  }

  // Timeout or shutdown: closing the socket ends whatever operation is pending,
  // whose handler then reports `why`. A lookup (shared, so not cancelled) is
  // left to finish on its own.
  void stop(Failure why) {
    if (closed) return;
    if (!stop_reason) stop_reason = why;
    if (stage == Stage::resolve) return finish_stopped();
    boost::system::error_code ignored;
    stream.lowest_layer().close(ignored);
    deadline.cancel();
    if (stage == Stage::quit) close();
  }

  // Every completion goes through here: false (and the session ended) when it
  // failed or the session was stopped meanwhile.
  bool ok(const boost::system::error_code& ec) {
    if (closed) return false;
    if (stop_reason) {
      finish_stopped();
      return false;
    }
    if (!ec) return true;
    if (stage == Stage::quit) {
      close();
      return false;
    }
    std::string detail = ec.message();
    switch (stage) {
      case Stage::resolve:
        fail(Failure::network, "SMTP: cannot resolve " + endpoint().host + ": " + detail);
        break;
      case Stage::connect:
        client->forget_addresses();
        fail(Failure::network, "SMTP: cannot connect to " + endpoint().host + ":" + endpoint().port + ": " + detail);
        break;
      case Stage::handshake: {
        const long verify = SSL_get_verify_result(stream.native_handle());
        if (verify != X509_V_OK) detail += std::string(" (") + X509_verify_cert_error_string(verify) + ")";
        fail(Failure::tls, "SMTP: the TLS handshake with " + endpoint().host + " failed: " + detail);
        break;
      }
      default:
        fail(Failure::network, "SMTP: the connection failed (" + doing + "): " + detail);
        break;
    }
    return false;
  }

  void finish_stopped() {
    if (*stop_reason == Failure::timeout) {
      fail(Failure::timeout,
           "SMTP: timed out after " + std::to_string(config().timeout.count()) + " ms (" + doing + ")");
    } else {
      fail(Failure::cancelled, std::string(kCancelled) + " (" + doing + ")");
    }
  }

  // The server refused a step: its reply decides; QUIT is still polite.
  void refused(const std::string& what, const Reply& r) {
    report({Failure::reply, r.code, "SMTP: " + what + " refused: " + r.text()});
    quit();
  }

  void fail(Failure why, std::string message, int reply = 0) {
    close();
    report({why, reply, std::move(message)});
  }

  void report(SmtpOutcome outcome) {
    if (!done) return;
    auto d = std::move(done);
    done = nullptr;
    d(std::move(outcome));
  }

  void close() {
    if (closed) return;
    closed = true;
    boost::system::error_code ignored;
    stream.lowest_layer().close(ignored);
    deadline.cancel();
    client->forget(this);
  }

  std::shared_ptr<Impl> client;
  asio::strand<asio::io_context::executor_type> strand;
  ssl::stream<tcp::socket> stream;
  asio::steady_timer deadline;
  SmtpMail mail;
  Done done;

  bool login_only = false;  // check_login()
  Stage stage = Stage::resolve;
  std::string doing = "before connecting";  // for messages: what the session waits for
  bool tls_on = false;
  bool closed = false;
  std::optional<Failure> stop_reason;
  Extensions ext;
  std::string in;   // received, not yet parsed
  std::string out;  // being written
  std::array<char, 4096> chunk{};
};

SmtpClient::SmtpClient(boost::asio::io_context& io, const EmailConfig& config)
    : impl_(std::make_shared<Impl>(io, config)) {}

SmtpClient::~SmtpClient() { shutdown(); }

void SmtpClient::send(SmtpMail mail, Done done) {
  auto reject = [&](Failure why, std::string message) {
    asio::post(impl_->io, [done = std::move(done), why, message = std::move(message)] {
      done(SmtpOutcome{why, 0, message});
    });
  };
  if (!usable_address(mail.from) || mail.to.empty() ||
      !std::all_of(mail.to.begin(), mail.to.end(), [](const std::string& a) { return usable_address(a); })) {
    return reject(Failure::invalid_request, "SMTP: the envelope has no recipient or an unusable address");
  }
  auto session = std::make_shared<Impl::Session>(impl_, std::move(mail), std::move(done));
  {
    std::lock_guard lock(impl_->mutex);
    if (!impl_->shut_down) {
      impl_->sessions.emplace(session.get(), session);
      asio::post(session->strand, [session] { session->start(); });
      return;
    }
  }
  session->closed = true;  // never started: no socket to close, nothing to forget
  asio::post(session->strand, [session] { session->report({Failure::cancelled, 0, std::string(kCancelled)}); });
}

void SmtpClient::check_login(Done done) {
  auto session = std::make_shared<Impl::Session>(impl_, SmtpMail{}, std::move(done));
  session->login_only = true;
  {
    std::lock_guard lock(impl_->mutex);
    if (!impl_->shut_down) {
      impl_->sessions.emplace(session.get(), session);
      asio::post(session->strand, [session] { session->start(); });
      return;
    }
  }
  session->closed = true;
  asio::post(session->strand, [session] { session->report({Failure::cancelled, 0, std::string(kCancelled)}); });
}

void SmtpClient::shutdown() {
  std::vector<std::shared_ptr<Impl::Session>> open;
  {
    std::lock_guard lock(impl_->mutex);
    impl_->shut_down = true;
    for (const auto& [key, weak] : impl_->sessions) {
      if (auto s = weak.lock()) open.push_back(std::move(s));
    }
  }
  for (auto& s : open) {
    asio::post(s->strand, [s] { s->stop(Failure::cancelled); });
  }
}

std::size_t SmtpClient::sessions() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->sessions.size();
}

}  // namespace baton::integrations
