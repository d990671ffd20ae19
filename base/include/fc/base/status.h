// Status and Result<T>: how fc reports routine failures (I/O, bad request, miss,
// peer gone) as values instead of exceptions. errno becomes text in exactly one
// place, ErrnoText (status.cc), which Status::FromErrno uses to keep the call,
// its context and the error. A Status has a kind, for callers that act on it
// (retry when busy, 404 when not found); the message is for people.
// Thread-safe as values; no shared state.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace fc {

// The text of an errno value ("No such file or directory"): the only place
// fc turns errno into words.
std::string ErrnoText(int err);

class Status {
 public:
  enum class Kind {
    kOk,
    kInvalid,   // the input is wrong (an option, a request, a file's content)
    kNotFound,  // what was named does not exist (ENOENT)
    kBusy,      // try again: a lock held, a resource exhausted for now (EAGAIN, EBUSY)
    kIo,        // a system call failed otherwise
  };
  Status() = default;  // OK
  static Status Ok() { return Status(); }
  // A failure described in words, e.g. "no such file under the root: a.txt".
  static Status Error(std::string message) { return Status(Kind::kInvalid, -1, std::move(message)); }
  static Status Busy(std::string message) { return Status(Kind::kBusy, -1, std::move(message)); }
  static Status NotFound(std::string message) { return Status(Kind::kNotFound, -1, std::move(message)); }
  // A failed system call: `open("a.txt") failed: No such file or directory`.
  // `call` names the syscall, `context` says on what (a file, a host). Its
  // kind follows errno.
  static Status FromErrno(int err, std::string_view call, std::string_view context);

  bool ok() const { return kind_ == Kind::kOk; }
  Kind kind() const { return kind_; }
  // The errno of a failed syscall, -1 for other failures, 0 for OK.
  int code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  Status(Kind kind, int code, std::string message) : kind_(kind), code_(code), message_(std::move(message)) {}
  Kind kind_ = Kind::kOk;
  int code_ = 0;
  std::string message_;
};

// A value or the Status that explains why there is none.
template <typename T>
class Result {
 public:
  Result(T value) : value_(std::move(value)) {}           // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {}   // NOLINT: implicit by design
  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  // REQUIRES: ok().
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() { return *value_; }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace fc
