#include "tests/support/smtp_server.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace baton::test {
namespace fs = std::filesystem;
namespace {

constexpr const char* kPython = "/usr/bin/python3";
constexpr auto kStartupLimit = std::chrono::seconds(30);

// The script sits next to this file in the source tree.
std::string script_path() {
  if (const char* env = std::getenv("BATON_SMTP_SERVER_SCRIPT")) return env;
  return fs::path(__FILE__).replace_extension(".py").string();
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string make_temp_dir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/baton-smtp-XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) {
    throw std::runtime_error("SmtpServer: mkdtemp failed: " + std::string(std::strerror(errno)));
  }
  return pattern;
}

std::vector<char*> argv_of(std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  return argv;
}

// Runs a command to completion, its output in `log`; returns its exit status
// or -1 when it could not be started.
int run(std::vector<std::string> args, const std::string& log) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  auto argv = argv_of(args);
  pid_t pid = -1;
  const int rc = posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return -1;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

}  // namespace

SmtpServer::SmtpServer(SmtpServerOptions options) : options_(std::move(options)) {
  if (access(kPython, X_OK) != 0) {
    throw std::runtime_error(
        "SmtpServer: /usr/bin/python3 is missing; install Debian's python3 and python3-aiosmtpd "
        "(scripts/deps.sh)");
  }
  const std::string script = script_path();
  if (!fs::exists(script)) throw std::runtime_error("SmtpServer: script not found: " + script);
  dir_ = make_temp_dir();
  fs::create_directory(fs::path(dir_) / "mail");
  const std::string cert = dir_ + "/cert.pem";
  const std::string key = dir_ + "/key.pem";
  const std::string log = dir_ + "/server.log";

  std::vector<std::string> args{kPython, script, "--dir", dir_ + "/mail"};
  if (options_.tls != SmtpServerOptions::Tls::none) {
    const int rc = run({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                        "-days", "2", "-subj", "/CN=localhost", "-addext",
                        "subjectAltName=DNS:localhost,IP:127.0.0.1"},
                       dir_ + "/openssl.log");
    if (rc != 0) {
      fs::remove_all(dir_);
      throw std::runtime_error(rc < 0 ? "SmtpServer: openssl is missing; install it (scripts/deps.sh)"
                                      : "SmtpServer: openssl could not make a certificate");
    }
    args.insert(args.end(), {"--cert", cert, "--key", key});
    if (options_.tls == SmtpServerOptions::Tls::implicit) {
      args.emplace_back("--implicit-tls");
    } else if (options_.require_starttls) {
      args.emplace_back("--require-starttls");
    }
  }
  if (!options_.username.empty()) args.insert(args.end(), {"--user", options_.username, "--password", options_.password});
  for (const auto& a : options_.reject_550) args.insert(args.end(), {"--reject-550", a});
  for (const auto& a : options_.reject_451) args.insert(args.end(), {"--reject-451", a});
  if (options_.data_delay.count() > 0)
    args.insert(args.end(), {"--data-delay-ms", std::to_string(options_.data_delay.count())});

  int in_pipe[2];
  int out_pipe[2];
  if (pipe2(in_pipe, O_CLOEXEC) != 0 || pipe2(out_pipe, O_CLOEXEC) != 0) {
    throw std::runtime_error("SmtpServer: pipe failed");
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_pipe[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_addopen(&actions, 2, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  auto argv = argv_of(args);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, kPython, &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(in_pipe[0]);
  close(out_pipe[1]);
  if (rc != 0) {
    close(in_pipe[1]);
    close(out_pipe[0]);
    fs::remove_all(dir_);
    throw std::runtime_error("SmtpServer: cannot run /usr/bin/python3: " + std::string(std::strerror(rc)));
  }
  pid_ = pid;
  stdin_fd_ = in_pipe[1];

  // Wait for "PORT <n>" on its stdout; end of file means it died.
  std::string line;
  const auto deadline = std::chrono::steady_clock::now() + kStartupLimit;
  while (line.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    pollfd p{out_pipe[0], POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    char buf[256];
    const ssize_t n = read(out_pipe[0], buf, sizeof buf);
    if (n <= 0) break;
    line.append(buf, static_cast<std::size_t>(n));
  }
  close(out_pipe[0]);
  if (line.rfind("PORT ", 0) == 0) port_ = static_cast<std::uint16_t>(std::atoi(line.c_str() + 5));
  if (port_ == 0) {
    stop();
    const std::string output = read_file(log);
    fs::remove_all(dir_);
    throw std::runtime_error("SmtpServer: the aiosmtpd server did not start (is python3-aiosmtpd installed?): " +
                             output);
  }
}

SmtpServer::~SmtpServer() {
  stop();
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

std::string SmtpServer::url(std::string_view host) const {
  const char* scheme = options_.tls == SmtpServerOptions::Tls::implicit ? "smtps://" : "smtp://";
  return scheme + std::string(host) + ":" + std::to_string(port_);
}

std::string SmtpServer::ca_file() const { return dir_ + "/cert.pem"; }

std::vector<ReceivedMail> SmtpServer::messages() const {
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(fs::path(dir_) / "mail", ec)) {
    if (entry.path().extension() == ".msg") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  std::vector<ReceivedMail> out;
  for (const auto& file : files) {
    const std::string text = read_file(file);
    ReceivedMail mail;
    std::size_t pos = 0;
    while (pos < text.size()) {
      const auto end = text.find('\n', pos);
      if (end == std::string::npos) break;
      const std::string_view line(text.data() + pos, end - pos);
      pos = end + 1;
      if (line.empty()) break;  // the data follows
      const auto space = line.find(' ');
      const auto key = line.substr(0, space);
      const auto value = space == std::string_view::npos ? std::string_view() : line.substr(space + 1);
      if (key == "from") mail.mail_from = value;
      if (key == "rcpt") mail.rcpt_to.emplace_back(value);
      if (key == "secure") mail.secure = value == "1";
      if (key == "user") mail.user = value;
    }
    mail.data = text.substr(std::min(pos, text.size()));
    out.push_back(std::move(mail));
  }
  return out;
}

std::size_t SmtpServer::peak_data_in_progress() const {
  const std::string text = read_file(fs::path(dir_) / "mail" / "peak");
  return text.empty() ? 0 : static_cast<std::size_t>(std::stoul(text));
}

bool SmtpServer::wait_for_messages(std::size_t n, std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (messages().size() >= n) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void SmtpServer::stop() {
  if (stdin_fd_ >= 0) {
    close(stdin_fd_);
    stdin_fd_ = -1;
  }
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  // It exits within a second or so; SIGKILL if it hangs, so a test never does.
  for (int i = 0; i < 200; ++i) {
    int status = 0;
    const pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_ || (r < 0 && errno != EINTR)) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

}  // namespace baton::test
