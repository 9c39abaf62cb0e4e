// The one command grammar of every channel (integrations/common/command_grammar.hpp).
// The rows were the separate Slack, Teams and SMS parsers' vectors; one
// grammar now has to satisfy all of them.
#include <catch2/catch.hpp>

#include "integrations/common/command_grammar.hpp"
#include "integrations/common/utf8.hpp"

using namespace baton::integrations;
using namespace std::chrono_literals;

namespace {
struct Row {
  const char* text;
  Verb verb;
  std::optional<std::int64_t> incident;
};
}  // namespace

TEST_CASE("grammar: ack, resolve and escalate as typed in chat, SMS and email", "[commands][grammar]") {
  const Row rows[] = {
      // SMS replies
      {"ACK", Verb::ack, std::nullopt},
      {"ack 42", Verb::ack, 42},
      {" Ack #42 ", Verb::ack, 42},
      {"ACK42", Verb::ack, 42},
      {"ack # 42", Verb::ack, 42},
      {"Ack.", Verb::ack, std::nullopt},
      {"ack 42!", Verb::ack, 42},
      {"ACKNOWLEDGE 42", Verb::ack, 42},
      {"RESOLVE 42", Verb::resolve, 42},
      {"RES 42", Verb::resolve, 42},
      {"res", Verb::resolve, std::nullopt},
      {"ESC 42", Verb::escalate, 42},
      {"Escalate", Verb::escalate, std::nullopt},
      {"1", Verb::ack, std::nullopt},
      {"2 42", Verb::resolve, 42},
      {"2#42", Verb::resolve, 42},
      {"3", Verb::escalate, std::nullopt},
      {"\t3\n", Verb::escalate, std::nullopt},
      {"ack 0042", Verb::ack, 42},
      {"ack 999999999999999999", Verb::ack, 999999999999999999},
      // Teams and Slack
      {"acknowledge INC-42", Verb::ack, 42},
      {"  Resolve\t7 ", Verb::resolve, 7},
      {"incident ack 9", Verb::ack, 9},
      {"incident escalate", Verb::escalate, std::nullopt},
      {"incident Escalate 12", Verb::escalate, 12},
      {"incident resolve", Verb::resolve, std::nullopt},
      // opt-out keywords and help, alone
      {"STOP", Verb::stop, std::nullopt},
      {"stopall", Verb::stop, std::nullopt},
      {"UNSUBSCRIBE", Verb::stop, std::nullopt},
      {"Cancel", Verb::stop, std::nullopt},
      {"END", Verb::stop, std::nullopt},
      {"quit", Verb::stop, std::nullopt},
      {"START", Verb::start, std::nullopt},
      {"yes", Verb::start, std::nullopt},
      {"UNSTOP", Verb::start, std::nullopt},
      {"HELP", Verb::help, std::nullopt},
      {"info", Verb::help, std::nullopt},
      {"", Verb::help, std::nullopt},
      {"   ", Verb::help, std::nullopt},
      // garbage
      {"ACK42x", Verb::invalid, std::nullopt},
      {"ACK -1", Verb::invalid, std::nullopt},
      {"ACK 0", Verb::invalid, std::nullopt},
      {"ACK 42 43", Verb::invalid, std::nullopt},
      {"ACK #", Verb::invalid, std::nullopt},
      {"ACKX", Verb::invalid, std::nullopt},
      {"ack 9999999999999999999", Verb::invalid, std::nullopt},
      {"ack forty-two", Verb::invalid, std::nullopt},
      {"4", Verb::invalid, std::nullopt},
      {"0", Verb::invalid, std::nullopt},
      {"242", Verb::invalid, std::nullopt},
      {"1x", Verb::invalid, std::nullopt},
      {"STOP 42", Verb::invalid, std::nullopt},
      {"please stop", Verb::invalid, std::nullopt},
      {"ok thanks", Verb::invalid, std::nullopt},
      {"#42", Verb::invalid, std::nullopt},
      {"\xC3\x84""CK 42", Verb::invalid, std::nullopt},
      {"incident", Verb::invalid, std::nullopt},
      {"incident help", Verb::invalid, std::nullopt},
      {"incident ack four", Verb::invalid, std::nullopt},
      {"incident ack -3", Verb::invalid, std::nullopt},
      {"incident close 7", Verb::invalid, std::nullopt},
  };
  for (const auto& row : rows) {
    INFO("text: '" << row.text << "'");
    const auto c = parse_command(row.text);
    CHECK(c.verb == row.verb);
    CHECK(c.incident == row.incident);
    if (c.verb == Verb::invalid) CHECK_FALSE(c.error.empty());
  }
}

TEST_CASE("grammar: oncall takes a service or schedule in every channel", "[commands][grammar]") {
  auto c = parse_command("oncall payments");
  CHECK(c.verb == Verb::oncall);
  CHECK(c.target == "payments");
  CHECK(parse_command("  ONCALL  ").verb == Verb::oncall);
  CHECK(parse_command("oncall").target.empty());
  CHECK(parse_command("oncall Payments").target == "Payments");
  auto bad = parse_command("oncall a b");
  CHECK(bad.verb == Verb::invalid);
  CHECK_FALSE(bad.error.empty());
}

TEST_CASE("grammar: incident new, list, status, reassign and page", "[commands][grammar]") {
  auto c = parse_command("incident new Checkout  returns 500s service:payments");
  CHECK(c.verb == Verb::incident_new);
  CHECK(c.text == "Checkout  returns 500s");  // the user's own spacing is kept
  CHECK(c.target == "payments");
  auto middle = parse_command("incident new service:x is weird");
  CHECK(middle.text == "service:x is weird");
  CHECK(middle.target.empty());
  CHECK(parse_command("incident new").verb == Verb::invalid);
  CHECK(parse_command("incident new service:payments").verb == Verb::invalid);
  CHECK(parse_command("incident new outage service:").verb == Verb::invalid);

  CHECK(parse_command("incident list").verb == Verb::incident_list);
  CHECK(parse_command("INCIDENT LIST").verb == Verb::incident_list);
  CHECK(parse_command("incident list all").verb == Verb::invalid);
  auto s = parse_command("incident status 7");
  CHECK(s.verb == Verb::incident_status);
  CHECK(s.incident == 7);
  CHECK(parse_command("incident status").verb == Verb::incident_status);  // the conversation's incident
  CHECK(parse_command("incident status 7 8").verb == Verb::invalid);

  auto r = parse_command("incident reassign 42 <@U123ABC|ana>");
  CHECK(r.verb == Verb::reassign);
  CHECK(r.incident == 42);
  CHECK(r.person == "<@U123ABC>");
  CHECK(parse_command("reassign 42 <@W9>").person == "<@W9>");
  CHECK(parse_command("reassign 42 bob").person == "bob");
  CHECK(parse_command("reassign 42 @bob").person == "bob");
  CHECK(parse_command("reassign 42 bob@example.com").person == "bob@example.com");
  CHECK(parse_command("incident reassign 42").verb == Verb::invalid);
  CHECK(parse_command("incident reassign <@U1> 42").verb == Verb::invalid);
  CHECK(parse_command("reassign 42 <@u1|x>").verb == Verb::invalid);

  auto p = parse_command("page <@U0ONCALL|ana>   db-7 is down,\ncall me");
  CHECK(p.verb == Verb::page);
  CHECK(p.person == "<@U0ONCALL>");
  CHECK(p.text == "db-7 is down,\ncall me");
  CHECK(parse_command("page ana hello").person == "ana");
  CHECK(parse_command("page <@U0ONCALL>").verb == Verb::invalid);
  CHECK(parse_command("page").verb == Verb::invalid);
  auto unknown = parse_command("deploy prod");
  CHECK(unknown.verb == Verb::invalid);
  CHECK(unknown.error.find("deploy") != std::string::npos);
}

TEST_CASE("grammar: maintenance windows and console", "[commands][grammar]") {
  auto m = parse_command("maintenance payments 1h deploy of v2");
  CHECK(m.verb == Verb::maintenance_start);
  CHECK(m.target == "payments");
  CHECK(m.duration == std::chrono::milliseconds(1h));
  CHECK(m.text == "deploy of v2");
  auto no_reason = parse_command("Maintenance payments 1h30m");
  CHECK(no_reason.verb == Verb::maintenance_start);
  CHECK(no_reason.duration == std::chrono::milliseconds(90min));
  CHECK(no_reason.text.empty());
  auto end = parse_command("maintenance end payments");
  CHECK(end.verb == Verb::maintenance_end);
  CHECK(end.target == "payments");
  for (const char* bad : {"maintenance", "maintenance payments", "maintenance payments soon", "maintenance payments 0m",
                          "maintenance payments 31d", "maintenance payments 1h30", "maintenance payments -1h",
                          "maintenance end"}) {
    INFO(bad);
    CHECK(parse_command(bad).verb == Verb::invalid);
  }
  CHECK(parse_command("console").verb == Verb::console);
  CHECK(parse_command("console now").verb == Verb::invalid);

  CHECK(parse_command_duration("2d", std::chrono::hours(24 * 30)) == std::chrono::milliseconds(48h));
  CHECK_FALSE(parse_command_duration("99999999999999999999h", std::chrono::hours(24 * 30)));
  CHECK_FALSE(parse_command_duration("h", std::chrono::hours(1)));
}

TEST_CASE("grammar: the usage text names every verb", "[commands][grammar]") {
  const auto help = command_usage();
  for (const char* word : {"ack", "resolve", "escalate", "reassign", "oncall", "incident new", "incident list",
                           "incident status", "page", "maintenance", "maintenance end", "console", "help"})
    CHECK(help.find(word) != std::string::npos);
  CHECK(command_usage("/baton ").find("/baton oncall") != std::string::npos);
}

TEST_CASE("grammar: an error quoting the input is valid UTF-8 (found by the slack_form and slack_payload fuzzers)",
          "[commands][grammar]") {
  // An unknown word is quoted up to 40 bytes: the cut used to split a
  // character ("✅" is 3 bytes, starting at byte 39 here).
  const std::string long_word = std::string(39, 'x') + "\xE2\x9C\x85" + "yyyy";
  auto c = parse_command(long_word);
  REQUIRE(c.verb == Verb::invalid);
  CHECK(valid_utf8(c.error));
  CHECK(c.error.find(std::string(39, 'x') + "'") != std::string::npos);
  // Input that is not UTF-8 at all comes back repaired.
  auto bad = parse_command("page%2\xCC\xCC\xCC");
  REQUIRE(bad.verb == Verb::invalid);
  CHECK(valid_utf8(bad.error));
}
