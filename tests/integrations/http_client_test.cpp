#include <catch2/catch.hpp>

#include <chrono>

#include "integrations/http_client.hpp"
#include "tests/support/http_peer.hpp"

using namespace baton;
using namespace baton::integrations;
using baton::test::HttpPeer;
using baton::test::ScriptedResponse;
using namespace std::chrono_literals;

namespace {
HttpResponse with_status(int status, HeaderList headers = {}, std::string body = {}) {
  HttpResponse r;
  r.status = status;
  r.headers = std::move(headers);
  r.body = std::move(body);
  return r;
}
}  // namespace

// The status table: every status class lands on the documented error kind.
TEST_CASE("classify maps HTTP statuses onto the taxonomy", "[http]") {
  struct Row {
    int status;
    std::optional<ErrorKind> kind;  // nullopt = success
  };
  const Row rows[] = {
      {200, std::nullopt}, {201, std::nullopt}, {204, std::nullopt}, {299, std::nullopt},
      {429, ErrorKind::rate_limited}, {408, ErrorKind::transient}, {500, ErrorKind::transient},
      {502, ErrorKind::transient}, {503, ErrorKind::transient}, {599, ErrorKind::transient},
      {401, ErrorKind::auth_revoked}, {403, ErrorKind::auth_revoked}, {404, ErrorKind::not_found},
      {400, ErrorKind::permanent}, {410, ErrorKind::permanent}, {413, ErrorKind::permanent},
      {422, ErrorKind::permanent}, {302, ErrorKind::permanent}, {100, ErrorKind::permanent},
  };
  for (const auto& row : rows) {
    INFO("status " << row.status);
    auto result = classify(with_status(row.status));
    if (!row.kind) {
      CHECK(result.has_value());
    } else {
      REQUIRE_FALSE(result.has_value());
      CHECK(result.error().kind == *row.kind);
      CHECK(result.error().message.find(std::to_string(row.status)) != std::string::npos);
    }
  }
}

// The error message carries the start of the body (what the peer said), bounded.
TEST_CASE("classify quotes a bounded part of the body", "[http]") {
  auto result = classify(with_status(400, {}, std::string(1000, 'x') + "TAIL"));
  REQUIRE_FALSE(result);
  CHECK(result.error().message.find("HTTP 400: xxx") == 0);
  CHECK(result.error().message.find("TAIL") == std::string::npos);
  CHECK(result.error().message.size() < 300);
}

// 429: Retry-After as delta-seconds or an HTTP-date; missing or garbage means 0.
TEST_CASE("classify reads Retry-After on 429", "[http]") {
  const auto now = std::chrono::sys_days{std::chrono::year{2015} / 10 / 21} + 7h + 27min + 0s;
  auto seconds = classify(with_status(429, {{"retry-after", "120"}}), now);
  REQUIRE_FALSE(seconds);
  CHECK(seconds.error().kind == ErrorKind::rate_limited);
  CHECK(seconds.error().retry_after == 120s);

  auto date = classify(with_status(429, {{"Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT"}}), now);
  REQUIRE_FALSE(date);
  CHECK(date.error().retry_after == 60s);

  auto missing = classify(with_status(429), now);
  REQUIRE_FALSE(missing);
  CHECK(missing.error().retry_after == 0ms);

  auto garbage = classify(with_status(429, {{"Retry-After", "soon"}}), now);
  REQUIRE_FALSE(garbage);
  CHECK(garbage.error().kind == ErrorKind::rate_limited);
  CHECK(garbage.error().retry_after == 0ms);
}

// parse_retry_after edge cases: whitespace, past dates, negative and junk values.
TEST_CASE("parse_retry_after edge cases", "[http]") {
  const auto now = std::chrono::sys_days{std::chrono::year{2015} / 10 / 21} + 7h + 28min + 0s;
  CHECK(parse_retry_after(" 5 ", now) == std::optional(std::chrono::milliseconds(5000)));
  CHECK(parse_retry_after("0", now) == std::optional(std::chrono::milliseconds(0)));
  CHECK(parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now) == std::optional(std::chrono::milliseconds(0)));
  CHECK_FALSE(parse_retry_after("", now));
  CHECK_FALSE(parse_retry_after("-1", now));
  CHECK_FALSE(parse_retry_after("1.5", now));
  CHECK_FALSE(parse_retry_after("not a date", now));
  CHECK_FALSE(parse_retry_after("99999999999999999999999", now));
}

// header() finds names case-insensitively and returns the first match.
TEST_CASE("HttpResponse::header is case-insensitive", "[http]") {
  auto r = with_status(200, {{"X-One", "a"}, {"x-one", "b"}, {"Content-Type", "text/plain"}});
  CHECK(r.header("x-ONE") == std::optional<std::string>("a"));
  CHECK(r.header("content-type") == std::optional<std::string>("text/plain"));
  CHECK_FALSE(r.header("x-two"));
}

// A POST reaches the peer with its method, target, headers and body; the
// response's status, headers and body come back.
TEST_CASE("HttpClient posts to a local peer", "[http]") {
  HttpPeer peer;
  peer.push_response({201, {{"X-Answer", "42"}}, R"({"ok":true})"});
  HttpClient client;
  HttpRequest req;
  req.url = peer.url() + "/hook?x=1";
  req.headers = {{"Content-Type", "application/json"}, {"X-Custom", "v"}};
  req.body = R"({"hello":"world"})";
  auto res = client.request(req);
  REQUIRE(res);
  CHECK(res->status == 201);
  CHECK(res->header("x-answer") == std::optional<std::string>("42"));
  CHECK(res->body == R"({"ok":true})");

  auto seen = peer.requests();
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].method == "POST");
  CHECK(seen[0].target == "/hook?x=1");
  CHECK(seen[0].header("content-type") == std::optional<std::string>("application/json"));
  CHECK(seen[0].header("X-Custom") == std::optional<std::string>("v"));
  CHECK_FALSE(seen[0].header("expect"));
  CHECK(seen[0].body == R"({"hello":"world"})");
}

// Other methods: GET carries no body, PUT carries one.
TEST_CASE("HttpClient sends GET and PUT", "[http]") {
  HttpPeer peer;
  HttpClient client;
  auto get = client.request({"GET", peer.url() + "/a", {}, {}, 2000ms});
  REQUIRE(get);
  CHECK(get->status == 200);
  CHECK(get->body == "{}");
  auto put = client.request({"PUT", peer.url() + "/b", {}, "data", 2000ms});
  REQUIRE(put);
  auto seen = peer.requests();
  REQUIRE(seen.size() == 2);
  CHECK(seen[0].method == "GET");
  CHECK(seen[0].body.empty());
  CHECK(seen[1].method == "PUT");
  CHECK(seen[1].body == "data");
}

// Keep-alive: consecutive requests from one client use one connection, even
// across different methods; a second client opens its own.
TEST_CASE("HttpClient reuses its connection", "[http]") {
  HttpPeer peer;
  HttpClient client;
  for (int i = 0; i < 3; ++i) {
    HttpRequest req;
    req.url = peer.url() + "/n";
    req.body = std::to_string(i);
    REQUIRE(client.request(req));
  }
  REQUIRE(client.request({"GET", peer.url() + "/g", {}, {}, 2000ms}));
  HttpClient other;
  REQUIRE(other.request({"POST", peer.url() + "/o", {}, "x", 2000ms}));
  auto seen = peer.requests();
  REQUIRE(seen.size() == 5);
  for (int i = 0; i < 4; ++i) CHECK(seen[i].connection == seen[0].connection);
  CHECK(seen[4].connection != seen[0].connection);
}

// A peer slower than the timeout: transient, not a hang.
TEST_CASE("HttpClient times out as transient", "[http]") {
  HttpPeer peer;
  peer.push_response({200, {}, "{}", 5000ms});
  HttpClient client;
  auto res = client.request({"POST", peer.url() + "/slow", {}, "x", 200ms});
  REQUIRE_FALSE(res);
  CHECK(res.error().kind == ErrorKind::transient);
  // The same client recovers on a fresh connection.
  auto next = client.request({"POST", peer.url() + "/fast", {}, "y", 2000ms});
  REQUIRE(next);
  CHECK(next->status == 200);
}

// Nobody listening: connection refused is transient.
TEST_CASE("HttpClient connection refused is transient", "[http]") {
  std::string url;
  {
    HttpPeer peer;
    url = peer.url() + "/gone";
  }
  HttpClient client;
  auto res = client.request({"POST", url, {}, "x", 2000ms});
  REQUIRE_FALSE(res);
  CHECK(res.error().kind == ErrorKind::transient);
}

// A URL curl cannot use is the caller's mistake, not a transient failure.
TEST_CASE("HttpClient rejects a malformed URL", "[http]") {
  HttpClient client;
  auto res = client.request({"POST", "ftp://127.0.0.1/x", {}, "x", 1000ms});
  REQUIRE_FALSE(res);
  CHECK(res.error().kind == ErrorKind::invalid_request);
  auto empty = client.request({"POST", "", {}, "x", 1000ms});
  REQUIRE_FALSE(empty);
  CHECK_FALSE(empty.error().retryable());
}

// 429 with Retry-After from a real peer is read through the client's headers.
TEST_CASE("HttpClient 429 with Retry-After end to end", "[http]") {
  HttpPeer peer;
  peer.push_response({429, {{"Retry-After", "7"}}, R"({"error":"slow down"})"});
  HttpClient client;
  auto res = client.request({"POST", peer.url() + "/x", {}, "x", 2000ms});
  REQUIRE(res);
  CHECK(res->status == 429);
  auto verdict = classify(*res);
  REQUIRE_FALSE(verdict);
  CHECK(verdict.error().kind == ErrorKind::rate_limited);
  CHECK(verdict.error().retry_after == 7s);
  CHECK(verdict.error().message.find("slow down") != std::string::npos);
}

// The peer answers scripted responses in order, then the default; a handler wins over both.
TEST_CASE("HttpPeer script, default and handler", "[http][peer]") {
  HttpPeer peer;
  peer.push_response({503});
  peer.set_default_response({418, {}, "teapot"});
  HttpClient client;
  auto first = client.request({"GET", peer.url() + "/1", {}, {}, 2000ms});
  auto second = client.request({"GET", peer.url() + "/2", {}, {}, 2000ms});
  REQUIRE(first);
  REQUIRE(second);
  CHECK(first->status == 503);
  CHECK(second->status == 418);
  CHECK(second->body == "teapot");
  peer.set_handler([](const baton::test::RecordedRequest& r) -> std::optional<ScriptedResponse> {
    if (r.target == "/special") return ScriptedResponse{202, {}, "special"};
    return std::nullopt;
  });
  auto special = client.request({"GET", peer.url() + "/special", {}, {}, 2000ms});
  REQUIRE(special);
  CHECK(special->status == 202);
  CHECK(peer.wait_for_requests(3, 1000ms));
  CHECK_FALSE(peer.wait_for_requests(4, 10ms));
}
