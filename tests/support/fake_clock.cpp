// FakeClock is header-only; this file anchors the support library.
#include "tests/support/fake_clock.hpp"
