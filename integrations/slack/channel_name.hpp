#pragma once
// Names of incident channels. Pure.
#include <cstdint>
#include <string>
#include <string_view>

namespace baton::slack {

/// "inc-<number>-<slug>": the slug is the summary lowercased, with every run
/// of characters other than a-z 0-9 _ (spaces, punctuation, non-ASCII) made
/// one '-', and no '-' at either end; "inc-<number>" when nothing is left.
/// `attempt` > 0 appends "-<attempt + 1>" (for retries after name_taken).
/// The slug is shortened so the whole name stays within 80 characters.
std::string incident_channel_name(std::int64_t number, std::string_view summary, int attempt = 0);

}  // namespace baton::slack
