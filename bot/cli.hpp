#pragma once
// The `baton` command line, as a function so tests can run it in-process.
#include <iosfwd>
#include <string>
#include <vector>

namespace baton::bot {

/// Runs one command (`serve`, `check-config`, `oncall`, `incident ...`, `migrate`, `help`)
/// and returns the process exit code: 0 ok, 1 failure, 2 usage error.
int run_cli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace baton::bot
