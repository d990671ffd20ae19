// Internal header: what a request asked (Verb) and how it was answered (Outcome). The loop decides on it (a
// streamed reply closes its file, a health reply is never cached); the
// access log names it (OutcomeName), the only place it becomes text.
#pragma once

#include <cstdint>
#include <string_view>

namespace fc::worker {

enum class Outcome : uint8_t {
  kNone,
  // From the cache.
  kHit,           // found at once
  kHitAfterWait,  // loaded by another process while this one waited for its lock
  kMiss,          // loaded by this request
  kCompress,      // its compressed copy made by this request (--compress)
  // From disk (kStream .. kStreamNoLock, in this order: IsStream).
  kStream,           // larger than the cache
  kStreamFirst,      // kept out by the admission gate on its first request
  kStreamPinned,     // no room: everything evictable is being read
  kStreamLockBusy,   // the shared lock stayed busy (a stopped or slow holder)
  kStreamLoadBusy,   // another process was still loading it past the request's time
  kStreamNoLock,     // its load lock could not be taken
  // Other answers.
  kStored,       // an upload
  kList,         // the seeds' list (fc LIST, GET /.fc/cache)
  kListing,      // a directory listing
  kRedirect,     // a directory's 301, or --redirect-https's 308
  kRefused,      // an error reply
  kOptions,      // HTTP OPTIONS
  kHealth,       // the health endpoint
  kNotModified,  // HTTP 304
};

// What a request asked for, as counted (metrics) and logged. kOther: an HTTP
// method fc does not serve (the log writes the method's own name).
enum class Verb : uint8_t { kUnknown, kGet, kHead, kPut, kList, kOptions, kOther };

// "GET", "LIST", ...; "?" for a request that could not be read.
std::string_view VerbName(Verb verb);

// The outcome as the access log writes it ("hit", "stream-first", ...; "" for
// kNone).
std::string_view OutcomeName(Outcome outcome);

inline bool IsStream(Outcome outcome) {
  return outcome >= Outcome::kStream && outcome <= Outcome::kStreamNoLock;
}

}  // namespace fc::worker
