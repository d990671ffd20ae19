// Verb and Outcome names; see outcome.h.
#include "outcome.h"

namespace fc::worker {

std::string_view VerbName(Verb verb) {
  switch (verb) {
    case Verb::kUnknown: break;
    case Verb::kGet: return "GET";
    case Verb::kHead: return "HEAD";
    case Verb::kPut: return "PUT";
    case Verb::kList: return "LIST";
    case Verb::kOptions: return "OPTIONS";
    case Verb::kOther: return "OTHER";
  }
  return "?";
}

std::string_view OutcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kNone: return "";
    case Outcome::kHit: return "hit";
    case Outcome::kHitAfterWait: return "hit-after-wait";
    case Outcome::kMiss: return "miss";
    case Outcome::kCompress: return "compress";
    case Outcome::kStream: return "stream";
    case Outcome::kStreamFirst: return "stream-first";
    case Outcome::kStreamPinned: return "stream-pinned";
    case Outcome::kStreamLockBusy: return "stream-lock-busy";
    case Outcome::kStreamLoadBusy: return "stream-load-busy";
    case Outcome::kStreamNoLock: return "stream-no-lock";
    case Outcome::kStored: return "stored";
    case Outcome::kList: return "list";
    case Outcome::kListing: return "listing";
    case Outcome::kRedirect: return "redirect";
    case Outcome::kRefused: return "refused";
    case Outcome::kOptions: return "options";
    case Outcome::kHealth: return "health";
    case Outcome::kNotModified: return "not-modified";
  }
  return "";
}

}  // namespace fc::worker
