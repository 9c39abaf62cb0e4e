#include "integrations/sms/sms_reply.hpp"


namespace baton::integrations {
namespace {

void append_escaped(std::string& out, std::string_view text) {
  for (char c : text) {
    const auto b = static_cast<unsigned char>(c);
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default:
        if (b < 0x20 && c != '\t' && c != '\n' && c != '\r') break;  // not allowed in XML 1.0
        out.push_back(c);
    }
  }
}

constexpr std::string_view kXmlDecl = R"(<?xml version="1.0" encoding="UTF-8"?>)";

}  // namespace

std::string twiml_message(std::string_view text) {
  std::string out(kXmlDecl);
  out += "<Response><Message>";
  append_escaped(out, text);
  out += "</Message></Response>";
  return out;
}

std::string twiml_empty() { return std::string(kXmlDecl) + "<Response/>"; }

}  // namespace baton::integrations
