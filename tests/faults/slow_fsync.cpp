// An LD_PRELOAD shim for the fault suite's slow-disk scenario: fsync() and
// fdatasync() sleep BATON_FAULTS_FSYNC_DELAY_MS milliseconds, then call the
// real ones (found with dlsym(RTLD_NEXT), as described in dlsym(3)). Every
// commit baton makes with `durability: full` ends in one of them.
#include <dlfcn.h>
#include <time.h>

#include <cerrno>
#include <cstdlib>

namespace {

using SyncFn = int (*)(int);

void pause_like_a_slow_disk() {
  static const long delay_ms = [] {
    const char* v = std::getenv("BATON_FAULTS_FSYNC_DELAY_MS");
    return v ? std::strtol(v, nullptr, 10) : 0L;
  }();
  if (delay_ms <= 0) return;
  timespec t{delay_ms / 1000, (delay_ms % 1000) * 1000000L};
  while (nanosleep(&t, &t) != 0 && errno == EINTR) {
  }
}

}  // namespace

extern "C" int fsync(int fd) {
  static const auto real = reinterpret_cast<SyncFn>(dlsym(RTLD_NEXT, "fsync"));
  pause_like_a_slow_disk();
  return real ? real(fd) : 0;
}

extern "C" int fdatasync(int fd) {
  static const auto real = reinterpret_cast<SyncFn>(dlsym(RTLD_NEXT, "fdatasync"));
  pause_like_a_slow_disk();
  return real ? real(fd) : 0;
}
