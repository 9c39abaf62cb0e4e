// StoredChatRefs: chat message references are loaded once at start-up and
// answered from memory afterwards (find() runs on the network thread).
#include <catch2/catch.hpp>

#include <chrono>
#include <future>
#include <thread>

#include "bot/chat_refs.hpp"
#include "storage/group_commit.hpp"
#include "tests/storage/storage_fixtures.hpp"
#include "tests/support/fake_clock.hpp"

using namespace baton;
using namespace std::chrono_literals;

TEST_CASE("chat refs: find() answers from what was loaded at start-up, never from the database", "[chat_refs]") {
  // Scenario: incidents 1 and 2 both have a Slack DM in the database; only
  // incident 1 is loaded at start-up (the open one). find(1) gives its DM;
  // find(2) gives nothing although the database has a row; find() answers
  // while the database is held by someone else; a ref saved afterwards is
  // seen at once and is in the database once the refs are gone.
  test::TempDir dir;
  test::FakeClock clock;
  auto store = storage::Store::open(dir.file());
  REQUIRE(store);
  REQUIRE(test::apply_one(**store, test::make_trigger_effects(1, 1)));
  REQUIRE(test::apply_one(**store, test::make_trigger_effects(2, 2)));
  REQUIRE((*store)->add_chat_message({1, "slack-dm", "D1", "1700000000.000100", "alice"}, test::t0()));
  REQUIRE((*store)->add_chat_message({2, "slack-dm", "D1", "1700000000.000200", "alice"}, test::t0()));
  REQUIRE((*store)->save_teams_user("aad-alice", "29:alice", test::t0()));
  storage::GroupCommitWriter writer(std::move(*store));
  {
    bot::StoredChatRefs refs(writer, clock, {1});
    CHECK(refs.max_incidents() == bot::StoredChatRefs::kMaxCachedIncidents + 1);

    // The database is busy (a long write holds it): find() does not wait for it.
    std::promise<void> entered;
    std::promise<void> release;
    std::thread holder([&] {
      writer.with_store([&](storage::Store&) {
        entered.set_value();
        release.get_future().wait();
      });
    });
    entered.get_future().wait();
    auto found = std::async(std::launch::async, [&] { return std::pair{refs.find(1), refs.find(2)}; });
    const bool answered = found.wait_for(5s) == std::future_status::ready;
    release.set_value();
    holder.join();
    REQUIRE(answered);
    const auto [one, two] = found.get();
    REQUIRE(one.size() == 1);
    CHECK(one.front().conversation == "D1");
    CHECK(one.front().message_id == "1700000000.000100");
    CHECK(one.front().person == "alice");
    CHECK(two.empty());  // in the database, not loaded: an update would post anew

    refs.save({2, "slack-channel-post", "C9", "1700000000.000300", ""});
    auto saved = refs.find(2);
    REQUIRE(saved.size() == 1);
    CHECK(saved.front().kind == "slack-channel-post");

    // Teams identities were loaded too.
    engine::Person alice;
    alice.teams_user_id = "aad-alice";
    CHECK(refs.with_teams_id(alice).teams_user_id == "29:alice");
  }  // the saved ref is written before the refs go
  std::vector<storage::ChatMessage> rows;
  writer.with_store([&](storage::Store& s) { rows = s.chat_messages(2).value(); });
  REQUIRE(rows.size() == 2);
  CHECK(rows.back().conversation == "C9");
}

TEST_CASE("chat refs: references of several incidents load in one pass, in the order saved", "[chat_refs]") {
  test::TempDir dir;
  test::FakeClock clock;
  auto store = storage::Store::open(dir.file());
  REQUIRE(store);
  for (int n = 1; n <= 3; ++n) REQUIRE(test::apply_one(**store, test::make_trigger_effects(n, n)));
  REQUIRE((*store)->add_chat_message({3, "slack-channel-post", "C1", "1.1", ""}, test::t0()));
  REQUIRE((*store)->add_chat_message({3, "slack-dm", "D1", "1.2", "alice"}, test::t0() + 1s));
  REQUIRE((*store)->add_chat_message({1, "teams-dm", "a:1", "act-1", "bob"}, test::t0()));
  storage::GroupCommitWriter writer(std::move(*store));
  bot::StoredChatRefs refs(writer, clock, {1, 2, 3});
  auto three = refs.find(3);
  REQUIRE(three.size() == 2);
  CHECK(three[0].kind == "slack-channel-post");
  CHECK(three[1].kind == "slack-dm");
  CHECK(refs.find(1).size() == 1);
  CHECK(refs.find(2).empty());
}
