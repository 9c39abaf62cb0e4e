// baton: the command line. `serve` is the composition root's entry point; the
// other commands inspect a config or talk to a running baton over its API.
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <pthread.h>

#include <spdlog/spdlog.h>

#include "bot/cli.hpp"

int main(int argc, char** argv) {
  // Signals are taken synchronously by the main thread (sigwait in `serve`),
  // so block them before any other thread exists.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  // Past a file-size limit (RLIMIT_FSIZE) a write fails with EFBIG instead of
  // killing the process: SQLite reports an I/O error, the commit fails, and
  // baton refuses changes until the disk takes writes again.
  std::signal(SIGXFSZ, SIG_IGN);
  std::vector<std::string> args(argv + 1, argv + argc);
  return baton::bot::run_cli(args, std::cout, std::cerr);
}
