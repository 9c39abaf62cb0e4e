// `baton check-config --online` against local peers: the fake Slack Web API,
// a fake of Twilio's Accounts and IncomingPhoneNumbers resources, a real SMTP
// server (Debian's aiosmtpd) with STARTTLS and AUTH, and the fake Entra token
// endpoint. Each check must pass against a good peer and fail, with its reason
// on the line, against a bad one (bad token, channel not joined, wrong number,
// AUTH refused, token refused). No secret may appear in the output.
#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "bot/cli.hpp"
#include "bot/config.hpp"
#include "bot/online_check.hpp"
#include "tests/support/fake_slack.hpp"
#include "tests/support/fake_teams.hpp"
#include "tests/support/http_peer.hpp"
#include "tests/support/smtp_server.hpp"

using namespace baton;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

constexpr const char* kSid = "ACcheck";
constexpr const char* kAuthToken = "twilio-secret-token";
constexpr const char* kNumber = "+15551230000";
constexpr const char* kSmtpPassword = "smtp-secret-password";

constexpr const char* kDirectory = R"(
people:
  olga: {name: Olga, email: olga@example.com, contact_chain: [{method: email, after: 0s}]}
escalation_policies:
  olga: {steps: [{targets: [{person: olga}], timeout: 30m}]}
)";

// Twilio's REST API as documented (twilio.com/docs/iam/api/account,
// twilio.com/docs/phone-numbers/api/incomingphonenumber-resource): Basic auth
// with AccountSid:AuthToken; 401 {"code":20003,"message":"Authenticate"}.
struct FakeTwilio {
  test::HttpPeer peer;
  std::vector<std::string> numbers{kNumber};  // the account's numbers (SMS and voice capable)

  FakeTwilio() {
    peer.set_handler([this](const test::RecordedRequest& r) -> std::optional<test::ScriptedResponse> {
      const std::string base = std::string("/2010-04-01/Accounts/") + kSid;
      const std::string expected = "Basic " + basic(std::string(kSid) + ":" + kAuthToken);
      if (r.header("authorization").value_or("") != expected)
        return test::ScriptedResponse{401, {}, R"({"code":20003,"message":"Authenticate","more_info":"https://www.twilio.com/docs/errors/20003","status":401})"};
      if (r.method != "GET") return test::ScriptedResponse{405, {}, "{}"};
      if (r.target == base + ".json")
        return test::ScriptedResponse{200, {}, json::serialize(json::object{{"sid", kSid}, {"status", "active"},
                                                                             {"type", "Full"}, {"friendly_name", "ops"}})};
      const std::string prefix = base + "/IncomingPhoneNumbers.json?PhoneNumber=";
      if (r.target.starts_with(prefix)) {
        std::string wanted = r.target.substr(prefix.size());
        if (wanted.starts_with("%2B")) wanted = "+" + wanted.substr(3);
        json::array list;
        for (const auto& n : numbers)
          if (n == wanted)
            list.push_back(json::object{{"phone_number", n},
                                        {"capabilities", json::object{{"sms", true}, {"voice", true}, {"mms", false}}}});
        return test::ScriptedResponse{200, {}, json::serialize(json::object{{"incoming_phone_numbers", list}, {"page", 0}})};
      }
      return test::ScriptedResponse{404, {}, R"({"code":20404,"message":"The requested resource was not found","status":404})"};
    });
  }

  static std::string basic(const std::string& s) {
    static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    std::size_t i = 0;
    for (; i + 2 < s.size(); i += 3) {
      const unsigned v = (unsigned char)s[i] << 16 | (unsigned char)s[i + 1] << 8 | (unsigned char)s[i + 2];
      out += {k[v >> 18], k[(v >> 12) & 63], k[(v >> 6) & 63], k[v & 63]};
    }
    if (i + 1 == s.size()) {
      const unsigned v = (unsigned char)s[i] << 16;
      out += {k[v >> 18], k[(v >> 12) & 63], '=', '='};
    } else if (i + 2 == s.size()) {
      const unsigned v = (unsigned char)s[i] << 16 | (unsigned char)s[i + 1] << 8;
      out += {k[v >> 18], k[(v >> 12) & 63], k[(v >> 6) & 63], '='};
    }
    return out;
  }
};

bot::Config load(const std::string& yaml) {
  auto cfg = bot::load_config_string(yaml, "online.yaml", [](std::string_view) { return std::nullopt; });
  if (!cfg) {
    std::string all;
    for (const auto& e : cfg.error()) all += e.to_string() + "\n";
    FAIL(all);
  }
  return std::move(*cfg);
}

std::string services(const std::string& slack_channel) {
  return "services:\n  db: {name: DB, escalation_policy: olga, integration_keys: [k1]" +
         (slack_channel.empty() ? std::string() : ", slack_channel: " + slack_channel) + "}\n";
}

const bot::OnlineCheck* find(const std::vector<bot::OnlineCheck>& checks, std::string_view prefix) {
  for (const auto& c : checks)
    if (c.name.starts_with(prefix)) return &c;
  return nullptr;
}

std::string all_lines(const std::vector<bot::OnlineCheck>& checks) {
  std::string out;
  for (const auto& c : checks) out += c.line() + "\n";
  return out;
}

}  // namespace

TEST_CASE("online check: Slack token and the service channel", "[online_check]") {
  // Scenario: auth.test with the right token passes and lists the scopes; a
  // channel the bot is a member of passes; one it is not a member of fails with
  // not_in_channel and says chat:write.public is missing, until the token has
  // it; a wrong token fails auth.test and leaves the channels unchecked.
  test::FakeSlack slack;
  slack.set_scopes("chat:write,channels:read");
  const auto joined = slack.add_channel("ops", false, true);
  const auto outside = slack.add_channel("db-alerts", false, false);
  auto yaml = [&](const std::string& token, const std::string& channel) {
    return "slack: {bot_token: " + token + ", app_token: xapp-test-token, base_url: \"" + slack.base_url() + "\"}\n" +
           kDirectory + services(channel);
  };

  auto good = bot::run_online_checks(load(yaml("xoxb-test-token", joined)));
  INFO(all_lines(good));
  REQUIRE(good.size() == 2);
  CHECK(good[0].name == "slack auth.test");
  CHECK(good[0].ok);
  CHECK(good[0].detail.find("scopes: channels:read,chat:write") != std::string::npos);
  CHECK(good[1].name == "slack channel " + joined + " (service db)");
  CHECK(good[1].ok);
  CHECK(good[1].detail.find("#ops: the bot is a member") != std::string::npos);

  auto not_joined = bot::run_online_checks(load(yaml("xoxb-test-token", outside)));
  INFO(all_lines(not_joined));
  REQUIRE(not_joined.size() == 2);
  CHECK(not_joined[0].ok);
  CHECK_FALSE(not_joined[1].ok);
  CHECK(not_joined[1].line().find("FAILED: not_in_channel") != std::string::npos);
  CHECK(not_joined[1].detail.find("lacks chat:write.public") != std::string::npos);
  CHECK(slack.calls("chat.postMessage").empty());  // nothing is posted

  slack.set_scopes("chat:write,chat:write.public,channels:read");
  auto public_ok = bot::run_online_checks(load(yaml("xoxb-test-token", outside)));
  INFO(all_lines(public_ok));
  REQUIRE(public_ok.size() == 2);
  CHECK(public_ok[1].ok);
  CHECK(public_ok[1].detail.find("chat:write.public") != std::string::npos);

  auto missing = bot::run_online_checks(load(yaml("xoxb-test-token", "C0NOSUCH")));
  REQUIRE(missing.size() == 2);
  CHECK_FALSE(missing[1].ok);
  CHECK(missing[1].detail.starts_with("channel_not_found"));

  auto bad = bot::run_online_checks(load(yaml("xoxb-wrong-token", joined)));
  INFO(all_lines(bad));
  REQUIRE(bad.size() == 2);
  CHECK_FALSE(bad[0].ok);
  CHECK(bad[0].detail.find("invalid_auth") != std::string::npos);
  CHECK_FALSE(bad[1].ok);
  CHECK(all_lines(bad).find("xoxb-wrong-token") == std::string::npos);
}

TEST_CASE("online check: Twilio account and sending number", "[online_check]") {
  // Scenario: the right credentials and a number of the account pass; a number
  // the account does not have fails; a wrong auth token fails with Twilio's 20003.
  FakeTwilio twilio;
  auto yaml = [&](const std::string& token, const std::string& from) {
    return "twilio: {base_url: \"" + twilio.peer.url() + "\", account_sid: " + kSid + ", auth_token: " + token +
           ", from: \"" + from + "\"}\n" + kDirectory + services("");
  };
  auto good = bot::run_online_checks(load(yaml(kAuthToken, kNumber)));
  INFO(all_lines(good));
  REQUIRE(good.size() == 2);
  CHECK(good[0].name == std::string("twilio account ") + kSid);
  CHECK(good[0].ok);
  CHECK(good[1].name == std::string("twilio sms number ") + kNumber);
  CHECK(good[1].ok);

  auto wrong_number = bot::run_online_checks(load(yaml(kAuthToken, "+15559990000")));
  INFO(all_lines(wrong_number));
  REQUIRE(wrong_number.size() == 2);
  CHECK(wrong_number[0].ok);
  CHECK_FALSE(wrong_number[1].ok);
  CHECK(wrong_number[1].detail == std::string("+15559990000 is not a phone number of account ") + kSid);

  auto bad = bot::run_online_checks(load(yaml("not-the-token", kNumber)));
  INFO(all_lines(bad));
  REQUIRE(bad.size() == 2);
  CHECK_FALSE(bad[0].ok);
  CHECK(bad[0].detail.find("HTTP 401, Twilio error 20003: Authenticate") != std::string::npos);
  CHECK(all_lines(bad).find("not-the-token") == std::string::npos);
}

TEST_CASE("online check: SMTP login without sending mail", "[online_check]") {
  // Scenario: STARTTLS then AUTH with the right password passes and no mail is
  // sent; a wrong password fails with the server's refusal; the password is never printed.
  std::unique_ptr<test::SmtpServer> smtp;
  try {
    test::SmtpServerOptions o;
    o.username = "pager";
    o.password = kSmtpPassword;
    smtp = std::make_unique<test::SmtpServer>(o);
  } catch (const std::runtime_error& e) {
    WARN("BATON-SKIPPED: no SMTP server for the test: " << e.what());
    return;
  }
  auto yaml = [&](const std::string& password) {
    return "smtp: {url: \"" + smtp->url() + "\", from: pager@example.com, username: pager, password: " + password +
           ", ca_file: \"" + smtp->ca_file() + "\"}\n" + kDirectory + services("");
  };
  auto good = bot::run_online_checks(load(yaml(kSmtpPassword)));
  INFO(all_lines(good));
  REQUIRE(good.size() == 1);
  CHECK(good[0].name == "smtp login " + smtp->url());
  CHECK(good[0].ok);
  CHECK(good[0].detail == "STARTTLS, authenticated as pager");

  auto bad = bot::run_online_checks(load(yaml("wrong-password")));
  INFO(all_lines(bad));
  REQUIRE(bad.size() == 1);
  CHECK_FALSE(bad[0].ok);
  CHECK(bad[0].detail.find("AUTH") != std::string::npos);
  CHECK(bad[0].detail.find("refused") != std::string::npos);
  CHECK(all_lines(bad).find("wrong-password") == std::string::npos);
  CHECK(smtp->messages().empty());
}

TEST_CASE("online check: Teams client-credentials token", "[online_check]") {
  // Scenario: the fake Entra endpoint issues a token for the right secret and
  // refuses a wrong one (AADSTS7000215, invalid_client).
  test::FakeTeams teams;
  auto yaml = [&](const std::string& password) {
    return std::string("teams: {app_id: \"") + test::FakeTeams::kAppId + "\", app_password: " + password +
           ", tenant_id: \"" + test::FakeTeams::kTenantId + "\", login_base: \"" + teams.url() + "\"}\n" + kDirectory +
           services("");
  };
  auto good = bot::run_online_checks(load(yaml(test::FakeTeams::kAppPassword)));
  INFO(all_lines(good));
  REQUIRE(good.size() == 1);
  CHECK(good[0].name == "teams token");
  CHECK(good[0].ok);

  auto bad = bot::run_online_checks(load(yaml("wrong-secret")));
  INFO(all_lines(bad));
  REQUIRE(bad.size() == 1);
  CHECK_FALSE(bad[0].ok);
  CHECK(bad[0].detail.find("invalid_client") != std::string::npos);
  CHECK(all_lines(bad).find("wrong-secret") == std::string::npos);
}

TEST_CASE("check-config --online prints one line per check and exits 1 on a failure", "[online_check][cli]") {
  test::FakeSlack slack;
  const auto outside = slack.add_channel("db-alerts", false, false);
  FakeTwilio twilio;
  const auto file = std::filesystem::temp_directory_path() / "baton-online-check.yaml";
  auto write = [&](const std::string& channel) {
    std::ofstream f(file);
    f << "slack: {bot_token: xoxb-test-token, app_token: xapp-test-token, base_url: \"" << slack.base_url() << "\"}\n"
      << "twilio: {base_url: \"" << twilio.peer.url() << "\", account_sid: " << kSid << ", auth_token: " << kAuthToken
      << ", from: \"" << kNumber << "\"}\n"
      << kDirectory << services(channel);
  };
  auto cli = [&](std::vector<std::string> args) {
    std::ostringstream out, err;
    const int code = bot::run_cli(args, out, err);
    return std::tuple{code, out.str(), err.str()};
  };
  write(outside);
  auto [code, out, err] = cli({"check-config", file.string(), "--online"});
  INFO(out << err);
  CHECK(code == 1);
  CHECK(out.find("slack auth.test: ok (") != std::string::npos);
  CHECK(out.find("slack channel " + outside + " (service db): FAILED: not_in_channel") != std::string::npos);
  CHECK(out.find(std::string("twilio account ") + kSid + ": ok") != std::string::npos);
  CHECK(out.find(kAuthToken) == std::string::npos);
  CHECK(err.find("1 online check(s) failed") != std::string::npos);

  write("");
  auto [code2, out2, err2] = cli({"check-config", "--online", file.string()});
  INFO(out2 << err2);
  CHECK(code2 == 0);
  CHECK(std::get<0>(cli({"check-config", file.string()})) == 0);  // offline: no lines of checks
  std::filesystem::remove(file);
}
