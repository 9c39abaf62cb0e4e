#include "integrations/common/text.hpp"
#include "integrations/sms/sms_text.hpp"

#include <algorithm>
#include <cctype>
#include <vector>

namespace baton::integrations {
namespace {

constexpr std::size_t kGsmSingle = 160;
constexpr std::size_t kGsmPart = 153;
constexpr std::size_t kUcsSingle = 70;
constexpr std::size_t kUcsPart = 67;
constexpr std::size_t kMaxServiceChars = 32;

// GSM 03.38 basic characters outside printable ASCII (plus LF and CR).
constexpr char32_t kGsmBasicExtra[] = {
    U'\n', U'\r', U'£', U'¥', U'è', U'é', U'ù', U'ì', U'ò', U'Ç', U'Ø', U'ø', U'Å', U'å', U'Δ', U'Φ', U'Γ',
    U'Λ',  U'Ω',  U'Π', U'Ψ', U'Σ', U'Θ', U'Ξ', U'Æ', U'æ', U'ß', U'É', U'¤', U'¡', U'Ä', U'Ö', U'Ñ',
    U'Ü',  U'§',  U'¿', U'ä', U'ö', U'ñ', U'ü', U'à'};
constexpr char32_t kGsmExtension[] = {U'^', U'{', U'}', U'\\', U'[', U'~', U']', U'|', U'€', U'\f'};

// 0 = not GSM-7, else the number of septets.
int gsm_units(char32_t c) {
  if (std::find(std::begin(kGsmExtension), std::end(kGsmExtension), c) != std::end(kGsmExtension)) return 2;
  if (c >= 0x20 && c < 0x7f) return c == U'`' ? 0 : 1;
  if (std::find(std::begin(kGsmBasicExtra), std::end(kGsmBasicExtra), c) != std::end(kGsmBasicExtra)) return 1;
  return 0;
}

struct Char {
  char32_t code;
  std::size_t begin;  // byte offset in the UTF-8 text
  std::size_t end;
};

// Lenient UTF-8 decoding: a malformed sequence is one U+FFFD per byte.
std::vector<Char> decode(std::string_view s) {
  std::vector<Char> out;
  out.reserve(s.size());
  std::size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    std::size_t len = 0;
    char32_t c = 0;
    if (b < 0x80) {
      len = 1;
      c = b;
    } else if ((b & 0xe0) == 0xc0) {
      len = 2;
      c = b & 0x1f;
    } else if ((b & 0xf0) == 0xe0) {
      len = 3;
      c = b & 0x0f;
    } else if ((b & 0xf8) == 0xf0) {
      len = 4;
      c = b & 0x07;
    }
    bool ok = len > 0 && i + len <= s.size();
    for (std::size_t k = 1; ok && k < len; ++k) {
      const auto cb = static_cast<unsigned char>(s[i + k]);
      if ((cb & 0xc0) != 0x80) ok = false;
      c = (c << 6) | (cb & 0x3f);
    }
    static constexpr char32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (ok && (c < kMin[len] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))) ok = false;
    if (!ok) {
      out.push_back({0xfffd, i, i + 1});
      ++i;
      continue;
    }
    out.push_back({c, i, i + len});
    i += len;
  }
  return out;
}

SegmentInfo measure(const std::vector<Char>& chars) {
  SegmentInfo info;
  for (const auto& ch : chars) {
    if (gsm_units(ch.code) == 0) {
      info.gsm7 = false;
      break;
    }
  }
  const std::size_t single = info.gsm7 ? kGsmSingle : kUcsSingle;
  const std::size_t part = info.gsm7 ? kGsmPart : kUcsPart;
  std::size_t segments = 1;
  std::size_t used = 0;  // units in the current part
  for (const auto& ch : chars) {
    const std::size_t u = info.gsm7 ? static_cast<std::size_t>(gsm_units(ch.code)) : (ch.code > 0xffff ? 2 : 1);
    info.units += u;
    // A character never straddles two parts (escape + char, surrogate pair).
    if (used + u > part) {
      ++segments;
      used = 0;
    }
    used += u;
  }
  info.segments = info.units <= single ? 1 : segments;
  return info;
}

// Whitespace runs (ASCII controls included) become one space; trimmed.
std::string squash(std::string_view s) {
  std::string out;
  bool space = false;
  for (char c : s) {
    const auto b = static_cast<unsigned char>(c);
    if (b <= 0x20 || b == 0x7f) {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  return out;
}

// The first `n` characters of `s` (whole UTF-8 sequences).
std::string head_chars(std::string_view s, std::size_t n) {
  auto chars = decode(s);
  if (chars.size() <= n) return std::string(s);
  return std::string(s.substr(0, chars[n].begin));
}

bool fits(std::string_view text, std::size_t max_segments) {
  return segment_info(text).segments <= max_segments;
}

// prefix + summary + suffix, with the summary cut (at a character boundary,
// ending in an ellipsis) so that the whole fits; the summary is dropped when
// even that does not fit.
std::string fit(const std::string& prefix, const std::string& summary, const std::string& suffix,
                std::size_t max_segments) {
  std::string whole = prefix + summary + suffix;
  if (fits(whole, max_segments)) return whole;
  const auto chars = decode(summary);
  auto candidate = [&](std::size_t n) {
    std::string cut = summary.substr(0, n < chars.size() ? chars[n].begin : summary.size());
    while (!cut.empty() && cut.back() == ' ') cut.pop_back();
    // "…" is not GSM-7: use it only when the text is UCS-2 anyway.
    const bool gsm = segment_info(prefix + cut + suffix).gsm7;
    return prefix + cut + (gsm ? "..." : "…") + suffix;
  };
  // Fitting is (near enough) monotonic in the characters kept: binary search,
  // keeping `lo` a candidate that fits.
  std::size_t lo = 0;
  std::size_t hi = chars.size();
  if (!fits(candidate(0), max_segments)) {
    std::string bare = prefix;
    while (!bare.empty() && (bare.back() == ' ' || bare.back() == ':')) bare.pop_back();
    return bare + suffix;
  }
  while (lo < hi) {
    const std::size_t mid = lo + (hi - lo + 1) / 2;
    if (fits(candidate(mid), max_segments)) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  return candidate(lo);
}

std::string display_name(const Delivery& d) {
  const auto& owner = d.incident.owner;
  if (d.person && d.person->id == owner && !d.person->name.empty()) return d.person->name;
  return owner;
}

}  // namespace

SegmentInfo segment_info(std::string_view utf8) { return measure(decode(utf8)); }

std::string page_text(const Delivery& d, std::size_t max_segments) {
  max_segments = std::max<std::size_t>(1, max_segments);
  const std::string number = std::to_string(d.incident.number);
  const std::string head = "baton #" + number + " ";
  if (d.notification.kind == engine::NotificationKind::page) {
    std::string service = squash(d.service_name.empty() ? d.incident.service_id : d.service_name);
    if (decode(service).size() > kMaxServiceChars) service = head_chars(service, kMaxServiceChars - 3) + "...";
    std::string prefix = head + upper(engine::to_string(d.incident.severity));
    if (!service.empty()) prefix += " " + service;
    prefix += ": ";
    const std::string suffix = " Reply 1=ack 2=resolve 3=escalate #" + number + ", or ACK " + number;
    return fit(prefix, squash(d.incident.summary), suffix, max_segments);
  }
  const std::string who = squash(display_name(d));
  std::string text;
  switch (d.incident.state) {
    case engine::IncidentState::acknowledged:
      text = "acknowledged";
      if (!who.empty()) text += " by ";
      break;
    case engine::IncidentState::resolved:
      return head + "resolved";
    case engine::IncidentState::triggered:
      text = "triggered";
      if (!who.empty()) text += ", owner ";
      break;
  }
  return fit(head + text, who, "", max_segments);
}

}  // namespace baton::integrations
