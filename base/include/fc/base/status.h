// Status and Result<T>: how fc reports routine failures (I/O, bad request, miss,
// peer gone) as values instead of exceptions. errno becomes a Status in exactly
// one place, Status::FromErrno, which keeps the call, its context and strerror.
// Thread-safe as values; no shared state.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace fc {

class Status {
 public:
  Status() = default;  // OK
  static Status Ok() { return Status(); }
  // A failure described in words, e.g. "no such file under the root: a.txt".
  static Status Error(std::string message) { return Status(-1, std::move(message)); }
  // A failed system call: `open("a.txt") failed: No such file or directory`.
  // `call` names the syscall, `context` says on what (a file, a host).
  static Status FromErrno(int err, std::string_view call, std::string_view context);

  bool ok() const { return code_ == 0; }
  // The errno of a failed syscall, -1 for other failures, 0 for OK.
  int code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  Status(int code, std::string message) : code_(code), message_(std::move(message)) {}
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
  T& value() { return *value_; }
  const T& value() const { return *value_; }
  T* operator->() { return &*value_; }
  T& operator*() { return *value_; }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace fc
