#pragma once
// The text of an SMS page or update, fitted to a number of segments, and the
// segment arithmetic behind it (GSM 03.38 7-bit alphabet vs UCS-2). Pure.
#include <cstddef>
#include <string>
#include <string_view>

#include "integrations/notifier.hpp"

namespace baton::integrations {

/// How a text travels as SMS. `gsm7` when every character is in the GSM 03.38
/// basic set or its extension table (extension characters `^{}\[~]|€` and
/// form feed count 2 units); otherwise UCS-2 and `units` are UTF-16 code units
/// (a character beyond U+FFFF counts 2). Invalid UTF-8 bytes count as U+FFFD.
/// Segments: one up to 160 GSM-7 / 70 UCS-2 units; beyond that 153 / 67 units
/// each, never splitting an escape sequence or a surrogate pair. An empty text
/// is 1 segment.
struct SegmentInfo {
  bool gsm7 = true;
  std::size_t units = 0;
  std::size_t segments = 1;
};
SegmentInfo segment_info(std::string_view utf8);

/// The SMS for a delivery, always within `max_segments` (>= 1) segments:
/// - page: "baton #42 CRITICAL Payments: <summary> Reply 1=ack 2=resolve
///   3=escalate #42, or ACK 42". Whitespace runs in the summary become one
///   space; a summary too long is cut at a character boundary and ends with
///   "..." (or "…" when the text is UCS-2 anyway, so a cut never turns a GSM-7
///   text into UCS-2). The service is `service_name`, else the incident's
///   service id, at most 32 characters.
/// - update (and open_channel): "baton #42 acknowledged by Bob", "baton #42
///   resolved", "baton #42 triggered, owner Bob". The name is the addressee's
///   when they are the owner, else the owner's id.
std::string page_text(const Delivery& delivery, std::size_t max_segments = 2);

}  // namespace baton::integrations
