#include "tests/support/dovecot.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

extern char** environ;

namespace baton::test {
namespace fs = std::filesystem;
namespace {

constexpr const char* kDovecot = "/usr/sbin/dovecot";
constexpr auto kStartupLimit = std::chrono::seconds(20);

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// A port nobody listens on now (the kernel's choice for port 0).
std::uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    if (fd >= 0) ::close(fd);
    throw std::runtime_error("Dovecot: no free port");
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

bool accepts(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  const bool ok = fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  if (fd >= 0) ::close(fd);
  return ok;
}

int spawn(std::vector<std::string> args, const std::string& log, bool wait) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int rc = posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return -1;
  if (!wait) return pid;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

std::optional<passwd> user(const char* name) {
  if (const passwd* p = ::getpwnam(name)) return *p;
  return std::nullopt;
}

}  // namespace

std::optional<std::string> Dovecot::unavailable() {
  if (::access(kDovecot, X_OK) != 0) return std::string("dovecot is not installed (Debian: dovecot-imapd, scripts/deps.sh)");
  if (spawn({"openssl", "version"}, "/dev/null", true) != 0) return std::string("openssl is not installed");
  return std::nullopt;
}

Dovecot::Dovecot() {
  if (auto why = unavailable()) throw std::runtime_error("Dovecot: " + *why);
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/baton-dovecot-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("Dovecot: mkdtemp failed");
  dir_ = pattern;
  try {
    start();
  } catch (...) {
    stop();  // a constructor that throws gets no destructor: clean up here
    std::error_code ec;
    fs::remove_all(dir_, ec);
    throw;
  }
}

void Dovecot::start() {
  const fs::path dir(dir_);
  const std::string log = (dir / "setup.log").string();
  if (spawn({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", (dir / "key.pem").string(),
             "-out", (dir / "cert.pem").string(), "-days", "2", "-subj", "/CN=localhost", "-addext",
             "subjectAltName=DNS:localhost,IP:127.0.0.1"},
            log, true) != 0)
    throw std::runtime_error("Dovecot: openssl could not make a certificate: " + read_file(log));

  // As root, Dovecot runs its services as its own users and refuses mail
  // access as uid 0: the mail belongs to "nobody". Otherwise everything runs
  // as the current user (Dovecot's rootless mode).
  std::string internal_user, login_user, internal_group;
  uid_t mail_uid = ::getuid();
  gid_t mail_gid = ::getgid();
  if (::geteuid() == 0) {
    const auto nobody = user("nobody");
    if (!nobody) throw std::runtime_error("Dovecot: running as root needs a 'nobody' user");
    mail_uid = nobody->pw_uid;
    mail_gid = nobody->pw_gid;
    internal_user = user("dovecot") ? "dovecot" : "nobody";
    login_user = user("dovenull") ? "dovenull" : internal_user;
  } else {
    const auto me = ::getpwuid(::getuid());
    if (me == nullptr) throw std::runtime_error("Dovecot: the current user has no name");
    internal_user = login_user = me->pw_name;
    const group* g = ::getgrgid(::getgid());
    if (g == nullptr) throw std::runtime_error("Dovecot: the current group has no name");
    internal_group = g->gr_name;  // the services' sockets belong to it
  }
  fs::create_directories(dir / "run");
  fs::create_directories(dir / "state");
  fs::create_directories(dir / "home" / "Maildir");
  fs::permissions(dir, fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
  if (::geteuid() == 0) {
    for (const auto& p : {dir / "home", dir / "home" / "Maildir"})
      if (::chown(p.c_str(), mail_uid, mail_gid) != 0) throw std::runtime_error("Dovecot: chown failed");
  }
  {
    std::ofstream passwd(dir / "passwd");
    passwd << username() << ":{PLAIN}" << password() << ":" << mail_uid << ":" << mail_gid << "::"
           << (dir / "home").string() << "\n";
  }
  imap_port_ = free_port();
  imaps_port_ = free_port();
  while (imaps_port_ == imap_port_) imaps_port_ = free_port();
  {
    std::ofstream conf(dir / "dovecot.conf");
    conf << "base_dir = " << (dir / "run").string() << "\n"
         << "state_dir = " << (dir / "state").string() << "\n"
         << "log_path = " << (dir / "dovecot.log").string() << "\n"
         << "protocols = imap\nlisten = 127.0.0.1\n"
         << "default_internal_user = " << internal_user << "\n"
         << "default_login_user = " << login_user << "\n"
         << (internal_group.empty() ? std::string() : "default_internal_group = " + internal_group + "\n")
         << "first_valid_uid = 1\n"
         << "ssl = yes\nssl_cert = <" << (dir / "cert.pem").string() << "\nssl_key = <"
         << (dir / "key.pem").string() << "\n"
         << "disable_plaintext_auth = yes\nauth_mechanisms = plain login\n"
         << "passdb {\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u " << (dir / "passwd").string()
         << "\n}\nuserdb {\n  driver = passwd-file\n  args = username_format=%u " << (dir / "passwd").string()
         << "\n}\n"
         << "mail_location = maildir:~/Maildir\n"
         << "service anvil {\n  chroot =\n}\n"
         << "service imap-login {\n  chroot =\n  inet_listener imap {\n    port = " << imap_port_
         << "\n  }\n  inet_listener imaps {\n    port = " << imaps_port_ << "\n    ssl = yes\n  }\n}\n";
  }
  pid_ = spawn({kDovecot, "-F", "-c", (dir / "dovecot.conf").string()}, (dir / "stdout.log").string(), false);
  if (pid_ < 0) throw std::runtime_error("Dovecot: could not start " + std::string(kDovecot));
  const auto deadline = std::chrono::steady_clock::now() + kStartupLimit;
  while (!(accepts(imap_port_) && accepts(imaps_port_))) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("Dovecot exited at start: " + read_file(dir / "stdout.log") +
                               read_file(dir / "dovecot.log"));
    }
    if (std::chrono::steady_clock::now() > deadline) {
      stop();
      throw std::runtime_error("Dovecot did not start listening: " + read_file(dir / "dovecot.log"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

Dovecot::~Dovecot() {
  stop();
  std::error_code ec;
  if (!dir_.empty()) fs::remove_all(dir_, ec);
}

std::string Dovecot::imaps_url() const { return "imaps://127.0.0.1:" + std::to_string(imaps_port_) + "/INBOX"; }
std::string Dovecot::imap_url() const { return "imap://127.0.0.1:" + std::to_string(imap_port_) + "/INBOX"; }
std::string Dovecot::ca_file() const { return (fs::path(dir_) / "cert.pem").string(); }

void Dovecot::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  int status = 0;
  while (::waitpid(pid_, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  pid_ = -1;
}

}  // namespace baton::test
