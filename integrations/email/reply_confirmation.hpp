#pragma once
// The one-line mail baton sends back to a person whose email reply it acted on
// (or could not): threaded under their reply (RFC 5322 section 3.6.4), marked
// Auto-Submitted: auto-replied (RFC 3834) so that it starts no loop. Pure.
#include <string>
#include <vector>

#include "engine/time.hpp"

namespace baton::integrations {

struct ReplyConfirmation {
  std::string from;       ///< smtp.from
  std::string from_name;  ///< smtp.from_name
  std::string to;         ///< the person's address (the reply's From)
  std::string subject;    ///< the reply's subject, decoded; "Re: " is added unless present
  std::string reply_id;   ///< the reply's Message-ID ("<...>"), may be empty
  std::vector<std::string> reply_refs;  ///< the reply's References, oldest first
  std::string line;       ///< the answer, one line
  std::string domain;     ///< for this mail's own Message-ID
};

/// RFC 5322 text (CRLF line ends) of the confirmation mail.
std::string build_reply_confirmation(const ReplyConfirmation& c, engine::TimePoint now);

}  // namespace baton::integrations
