#pragma once
// Who a chat user is, in one place for every channel (docs/architecture.md,
// "Commands"): the config's id for that channel (slack_user_id,
// teams_user_id, phone, email), then the email the channel already gave,
// then a cached look-up through a channel-provided asynchronous lookup (Slack
// users.info, the Teams roster) that yields an email address. Thread-safe;
// never blocks on the network.
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "engine/incident.hpp"
#include "engine/result.hpp"
#include "engine/time.hpp"

namespace baton::bot {

class App;
class Background;

/// A user as a channel knows them.
struct ChannelUser {
  engine::Source channel = engine::Source::api;  ///< slack, teams, sms, voice, email...
  /// slack: the user id (U...); teams: the AAD object id (else the 29: id);
  /// sms/voice: the phone number (E.164); email: the address.
  std::string id;
  std::string email;  ///< when the channel already knows it (empty otherwise)
};

/// A channel's look-up of a user's email address (users.info, the roster).
/// Must not block: it calls `done` later, from any thread, exactly once.
using EmailLookup = std::function<void(std::function<void(Result<std::string> email)> done)>;

class Identities {
 public:
  static constexpr engine::Millis kFoundFor = std::chrono::hours(1);       ///< a look-up that named a person
  static constexpr engine::Millis kNotFoundFor = std::chrono::minutes(5);  ///< an email that is nobody's
  static constexpr engine::Millis kFailedFor = std::chrono::seconds(30);   ///< a failed look-up
  static constexpr std::size_t kMaxCached = 4096;        ///< expired entries go once the cache is this large
  static constexpr std::size_t kMaxWaiters = 256;        ///< more waiting for one look-up are answered "unknown"

  /// `worker` runs what follows a look-up's answer; both must outlive this object.
  Identities(App& app, Background& worker);
  ~Identities();
  Identities(const Identities&) = delete;
  Identities& operator=(const Identities&) = delete;

  /// The person `user` is, when that is known without a network call: by the
  /// config (the channel's id, then the email given), or a cache entry that has
  /// not expired. The outer optional is empty when a look-up is needed (only
  /// ever when `lookup` would be available: callers pass has_lookup).
  std::optional<std::optional<std::string>> known(const ChannelUser& user, bool has_lookup = true);

  /// Calls `done` with the person `user` is: at once (on the caller's thread)
  /// when known; otherwise after `lookup` (null: not linked), on the worker,
  /// with one look-up per user in flight. Cached by the App's clock: a match
  /// for kFoundFor, no match kNotFoundFor, a failure kFailedFor.
  void resolve(const ChannelUser& user, EmailLookup lookup, std::function<void(std::optional<std::string>)> done);

  /// The person whose config email is `email` (case-insensitive), if any.
  std::optional<std::string> person_by_email(const std::string& email) const;

  /// Drops every late answer from now on (App shutdown).
  void close();

 private:
  struct Shared;
  App& app_;
  std::shared_ptr<Shared> shared_;
};

}  // namespace baton::bot
