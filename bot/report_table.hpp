#pragma once
// `baton report` (docs/reports.md): fetches GET /api/v1/reports/response from
// a running baton and prints it as readable tables.
#include <iosfwd>
#include <map>
#include <string>
#include <string_view>

#include "engine/result.hpp"

namespace baton::bot {

/// The tables for a report document (the API's JSON); invalid_request if it
/// does not parse as one.
Result<std::string> report_table(std::string_view json_body);

/// `baton report [--from T] [--to T] [--service S] [--person P] [--tz ZONE]
/// [--json] [--url URL]`: `flags` as parsed by the CLI; `config_path` gives the
/// default URL (its server.listen). The token is $BATON_API_TOKEN. Returns the
/// exit code: 0 ok, 1 failure, 2 usage error.
int run_report_command(const std::map<std::string, std::string>& flags, std::size_t positional,
                       const std::string& config_path, std::ostream& out, std::ostream& err);

}  // namespace baton::bot
