#include "integrations/email/reply_mime.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include "integrations/common/text.hpp"

namespace baton::integrations {
namespace {

constexpr std::size_t kMaxFields = 500;
constexpr int kMaxDepth = 8;

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += char(0xE0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  } else if (cp <= 0x10FFFF) {
    out += char(0xF0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3F));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  }
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The next line of `s` from `pos` (without its CR LF or LF); pos moves past it.
std::string_view next_line(std::string_view s, std::size_t& pos) {
  const auto end = s.find('\n', pos);
  std::string_view line = s.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
  pos = end == std::string_view::npos ? s.size() : end + 1;
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

// Splits a message or part into its header block and body (after the first empty line).
std::pair<std::string_view, std::string_view> split_entity(std::string_view entity) {
  std::size_t pos = 0;
  while (pos < entity.size()) {
    const std::size_t start = pos;
    if (next_line(entity, pos).empty()) return {entity.substr(0, start), entity.substr(pos)};
  }
  return {entity, {}};
}

std::string decode_part(std::string_view body, const MailHeaders& h, const ContentType& ct) {
  const auto encoding = lower(trim_space(h.get("content-transfer-encoding").value_or("")));
  std::string bytes;
  if (encoding == "base64") bytes = decode_base64(body);
  else if (encoding == "quoted-printable") bytes = decode_quoted_printable(body);
  else bytes = std::string(body);
  return to_utf8(bytes, ct.param("charset"));
}

struct Walk {
  MailBody out;
  std::string plain;
  std::string html;

  void entity(const MailHeaders& h, std::string_view body, int depth) {
    const auto ct = parse_content_type(h.get("content-type").value_or("text/plain"));
    const bool attachment = lower(h.get("content-disposition").value_or("")).rfind("attachment", 0) == 0;
    if (ct.type.rfind("multipart/", 0) == 0) {
      if (ct.type == "multipart/report" && out.report_type.empty()) out.report_type = lower(ct.param("report-type"));
      if (depth >= kMaxDepth) return;
      const auto boundary = ct.param("boundary");
      if (boundary.empty()) return;
      for (auto part : split_multipart(body, boundary)) {
        auto [head, rest] = split_entity(part);
        entity(parse_headers(head), rest, depth + 1);
      }
    } else if (ct.type == "message/delivery-status") {
      if (out.delivery_status.empty()) out.delivery_status = decode_part(body, h, ct);
    } else if (ct.type == "message/rfc822" || ct.type == "text/rfc822-headers") {
      if (out.returned_headers.empty()) out.returned_headers = std::string(split_entity(decode_part(body, h, ct)).first);
    } else if (ct.type == "text/plain" && !attachment) {
      if (plain.empty()) plain = decode_part(body, h, ct);
    } else if (ct.type == "text/html" && !attachment) {
      if (html.empty()) html = decode_part(body, h, ct);
    }
  }

  // The parts between "--boundary" lines; an unterminated last part (a body
  // cut short) is kept.
  static std::vector<std::string_view> split_multipart(std::string_view body, const std::string& boundary) {
    std::vector<std::string_view> parts;
    const std::string dash = "--" + boundary;
    std::size_t pos = 0;
    std::optional<std::size_t> start;
    while (pos < body.size()) {
      const std::size_t line_start = pos;
      const auto line = next_line(body, pos);
      if (line.rfind(dash, 0) != 0) continue;
      const auto tail = trim_space(line.substr(dash.size()));
      if (!tail.empty() && tail != "--") continue;
      if (start) parts.push_back(body.substr(*start, line_start - *start));
      if (tail == "--") return parts;
      start = pos;
      if (parts.size() > 100) return parts;
    }
    if (start && *start < body.size()) parts.push_back(body.substr(*start));
    return parts;
  }
};

}  // namespace

std::optional<std::string> MailHeaders::get(std::string_view name) const {
  for (const auto& [n, v] : fields)
    if (n == name) return v;
  return std::nullopt;
}

std::vector<std::string> MailHeaders::all(std::string_view name) const {
  std::vector<std::string> out;
  for (const auto& [n, v] : fields)
    if (n == name) out.push_back(v);
  return out;
}

MailHeaders parse_headers(std::string_view block) {
  MailHeaders h;
  std::size_t pos = 0;
  while (pos < block.size()) {
    const auto line = next_line(block, pos);
    if (line.empty()) break;
    if ((line.front() == ' ' || line.front() == '\t')) {
      if (!h.fields.empty() && h.fields.back().second.size() < 64 * 1024)
        h.fields.back().second += " " + std::string(trim_space(line));
      continue;
    }
    const auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) continue;  // not a field: skipped
    if (h.fields.size() >= kMaxFields) break;
    h.fields.emplace_back(lower(trim_space(line.substr(0, colon))), std::string(trim_space(line.substr(colon + 1))));
  }
  return h;
}

std::string decode_words(std::string_view value) {
  std::string out;
  std::size_t i = 0;
  bool last_was_word = false;
  std::string pending_space;
  while (i < value.size()) {
    if (value.compare(i, 2, "=?") == 0) {
      // =?charset?E?text?=
      const auto q1 = value.find('?', i + 2);
      const auto q2 = q1 == std::string_view::npos ? q1 : value.find('?', q1 + 1);
      const auto end = q2 == std::string_view::npos ? q2 : value.find("?=", q2 + 1);
      if (end != std::string_view::npos && q2 == q1 + 2) {
        auto charset = value.substr(i + 2, q1 - i - 2);
        if (const auto star = charset.find('*'); star != std::string_view::npos) charset = charset.substr(0, star);
        const char enc = char(std::toupper(static_cast<unsigned char>(value[q1 + 1])));
        const auto text = value.substr(q2 + 1, end - q2 - 1);
        std::string bytes;
        if (enc == 'B') {
          bytes = decode_base64(text);
        } else if (enc == 'Q') {
          for (std::size_t k = 0; k < text.size(); ++k) {
            if (text[k] == '_') bytes += ' ';
            else if (text[k] == '=' && k + 2 < text.size() + 0 && hex_value(text[k + 1]) >= 0 && hex_value(text[k + 2]) >= 0) {
              bytes += char(hex_value(text[k + 1]) * 16 + hex_value(text[k + 2]));
              k += 2;
            } else bytes += text[k];
          }
        }
        if (enc == 'B' || enc == 'Q') {
          if (!last_was_word) out += pending_space;  // whitespace between encoded-words is dropped
          pending_space.clear();
          out += to_utf8(bytes, charset);
          last_was_word = true;
          i = end + 2;
          continue;
        }
      }
    }
    const char c = value[i++];
    if (c == ' ' || c == '\t') {
      pending_space += c;
      continue;
    }
    out += pending_space;
    pending_space.clear();
    out += c;
    last_was_word = false;
  }
  if (!last_was_word) out += pending_space;
  return out;
}

std::vector<std::string> parse_addresses(std::string_view value) {
  std::vector<std::string> out;
  std::string element;
  bool quoted = false;
  int comment = 0;
  auto finish = [&out](std::string e) {
    std::string_view v = trim_space(e);
    if (const auto open = v.rfind('<'); open != std::string_view::npos) {
      const auto close = v.find('>', open);
      v = v.substr(open + 1, close == std::string_view::npos ? std::string_view::npos : close - open - 1);
    }
    v = trim_space(v);
    if (v.find('@') != std::string_view::npos && v.find(' ') == std::string_view::npos) out.emplace_back(v);
  };
  for (std::size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    if (quoted) {
      if (c == '\\' && i + 1 < value.size()) ++i;
      else if (c == '"') quoted = false;
      continue;  // a display name: dropped
    }
    if (comment > 0) {
      if (c == '(') ++comment;
      else if (c == ')') --comment;
      continue;
    }
    if (c == '"') quoted = true;
    else if (c == '(') comment = 1;
    else if (c == ',' || c == ';' || c == ':') {
      if (c == ':') element.clear();  // a group's display name
      else finish(std::exchange(element, {}));
    } else element += c;
  }
  finish(element);
  return out;
}

std::vector<std::string> parse_message_ids(std::string_view value) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (out.size() < 100) {
    const auto open = value.find('<', pos);
    if (open == std::string_view::npos) break;
    const auto close = value.find('>', open);
    if (close == std::string_view::npos) break;
    out.emplace_back(value.substr(open, close - open + 1));
    pos = close + 1;
  }
  return out;
}

std::string ContentType::param(std::string_view name) const {
  for (const auto& [n, v] : params)
    if (n == name) return v;
  return {};
}

ContentType parse_content_type(std::string_view value) {
  ContentType ct;
  auto semi = value.find(';');
  const auto type = lower(trim_space(value.substr(0, semi)));
  if (type.find('/') != std::string::npos) ct.type = type;
  while (semi != std::string_view::npos) {
    value.remove_prefix(semi + 1);
    const auto eq = value.find('=');
    if (eq == std::string_view::npos) break;
    const auto name = lower(trim_space(value.substr(0, eq)));
    value.remove_prefix(eq + 1);
    value = trim_space(value);
    std::string v;
    if (!value.empty() && value.front() == '"') {
      std::size_t k = 1;
      for (; k < value.size() && value[k] != '"'; ++k) {
        if (value[k] == '\\' && k + 1 < value.size()) ++k;
        v += value[k];
      }
      value.remove_prefix(std::min(value.size(), k + 1));
      semi = value.find(';');
    } else {
      semi = value.find(';');
      v = std::string(trim_space(value.substr(0, semi)));
    }
    ct.params.emplace_back(name, std::move(v));
  }
  return ct;
}

std::string decode_base64(std::string_view text) {
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    int v = -1;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    else if (c >= '0' && c <= '9') v = c - '0' + 52;
    else if (c == '+' || c == '-') v = 62;
    else if (c == '/' || c == '_') v = 63;
    else if (c == '=') break;
    if (v < 0) continue;
    acc = (acc << 6) | std::uint32_t(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += char((acc >> bits) & 0xFF);
    }
  }
  return out;
}

std::string decode_quoted_printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c != '=') {
      out += c;
      continue;
    }
    if (i + 2 < text.size() + 0 && hex_value(text[i + 1]) >= 0 && hex_value(text[i + 2]) >= 0) {
      out += char(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2]));
      i += 2;
      continue;
    }
    // A soft line break: "=" then optional white space, then (CR) LF.
    std::size_t k = i + 1;
    while (k < text.size() && (text[k] == ' ' || text[k] == '\t')) ++k;
    if (k < text.size() && text[k] == '\r') ++k;
    if (k < text.size() && text[k] == '\n') {
      i = k;
      continue;
    }
    if (k >= text.size()) break;  // cut short after "="
    out += c;  // a stray "=" is kept (RFC 2045 section 6.7, note 1)
  }
  return out;
}

std::string to_utf8(std::string_view bytes, std::string_view charset) {
  const auto cs = lower(trim_space(charset));
  const bool latin1 = cs == "iso-8859-1" || cs == "latin1" || cs == "iso8859-1" || cs == "iso_8859-1" ||
                      cs == "windows-1252" || cs == "cp1252" || cs == "iso-8859-15";
  if (!latin1) return std::string(bytes);
  // windows-1252's 0x80-0x9F (the ones mail clients use in practice), else Latin-1.
  static constexpr std::uint16_t k1252[32] = {0x20AC, 0x81,   0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
                                              0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x8D,   0x017D, 0x8F,
                                              0x90,   0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
                                              0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x9D,   0x017E, 0x0178};
  std::string out;
  out.reserve(bytes.size() + bytes.size() / 4);
  for (char c : bytes) {
    const auto b = std::uint8_t(c);
    if (b >= 0x80 && b < 0xA0 && cs != "iso-8859-1" && cs != "latin1") append_utf8(out, k1252[b - 0x80]);
    else append_utf8(out, b);
  }
  return out;
}

std::string html_to_text(std::string_view html) {
  std::string out;
  int quote_depth = 0;
  bool line_start = true;
  auto newline = [&] {
    while (!out.empty() && out.back() == ' ') out.pop_back();
    out += '\n';
    line_start = true;
  };
  auto put = [&](std::string_view s) {
    for (char c : s) {
      if (c == '\n' || c == '\r' || c == '\t') c = ' ';
      if (c == ' ' && (line_start || (!out.empty() && out.back() == ' '))) continue;
      if (line_start) {
        for (int q = 0; q < quote_depth; ++q) out += "> ";
        line_start = false;
      }
      out += c;
    }
  };
  std::size_t i = 0;
  while (i < html.size()) {
    const char c = html[i];
    if (c == '<') {
      if (html.compare(i, 4, "<!--") == 0) {
        const auto end = html.find("-->", i + 4);
        i = end == std::string_view::npos ? html.size() : end + 3;
        continue;
      }
      const auto end = html.find('>', i);
      if (end == std::string_view::npos) break;
      std::string_view tag = html.substr(i + 1, end - i - 1);
      i = end + 1;
      const bool closing = !tag.empty() && tag.front() == '/';
      if (closing) tag.remove_prefix(1);
      std::size_t n = 0;
      while (n < tag.size() && std::isalnum(static_cast<unsigned char>(tag[n]))) ++n;
      const auto name = lower(tag.substr(0, n));
      if (!closing && (name == "head" || name == "style" || name == "script" || name == "title")) {
        const auto close = lower(html.substr(i)).find("</" + name);
        i = close == std::string::npos ? html.size() : i + close;
        continue;
      }
      if (name == "blockquote") {
        newline();
        quote_depth = std::max(0, quote_depth + (closing ? -1 : 1));
      } else if (name == "br" || name == "p" || name == "div" || name == "tr" || name == "li" || name == "h1" ||
                 name == "h2" || name == "h3" || name == "hr" || name == "table") {
        if (!line_start || name == "br") newline();
      }
      continue;
    }
    if (c == '&') {
      const auto semi = html.find(';', i);
      if (semi != std::string_view::npos && semi - i <= 10) {
        const auto entity = html.substr(i + 1, semi - i - 1);
        std::string decoded;
        if (entity == "amp") decoded = "&";
        else if (entity == "lt") decoded = "<";
        else if (entity == "gt") decoded = ">";
        else if (entity == "quot") decoded = "\"";
        else if (entity == "apos") decoded = "'";
        else if (entity == "nbsp") decoded = " ";
        else if (entity.size() > 1 && entity.front() == '#') {
          std::uint32_t cp = 0;
          bool ok = true;
          const bool hex = entity.size() > 2 && (entity[1] == 'x' || entity[1] == 'X');
          for (char d : entity.substr(hex ? 2 : 1)) {
            const int v = hex ? hex_value(d) : (std::isdigit(static_cast<unsigned char>(d)) ? d - '0' : -1);
            if (v < 0 || cp > 0x10FFFF) ok = false;
            else cp = cp * (hex ? 16 : 10) + std::uint32_t(v);
          }
          if (ok && cp > 0 && cp <= 0x10FFFF && (cp < 0xD800 || cp > 0xDFFF)) append_utf8(decoded, cp);
        }
        if (!decoded.empty()) {
          put(decoded);
          i = semi + 1;
          continue;
        }
      }
    }
    put(std::string_view(&html[i], 1));
    ++i;
  }
  return out;
}

MailBody read_body(const MailHeaders& headers, std::string_view body) {
  Walk walk;
  walk.entity(headers, body, 0);
  if (!walk.plain.empty()) {
    walk.out.text = std::move(walk.plain);
  } else if (!walk.html.empty()) {
    walk.out.text = html_to_text(walk.html);
    walk.out.from_html = true;
  }
  return std::move(walk.out);
}

}  // namespace baton::integrations
