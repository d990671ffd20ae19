// UniqueFd: sole owner of a file descriptor; closes it on destruction.
// Move-only. Not thread-safe (like any value).
// SharedFd: a descriptor owned by all its copies, closed when the last goes.
// Copies may live on different threads (the count is atomic); users of one
// descriptor must not rely on its file position (pread, sendfile with an
// offset).
#pragma once

#include <unistd.h>

#include <memory>
#include <utility>

namespace fc {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { Reset(); }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.Release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) Reset(other.Release());
    return *this;
  }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int Release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void Reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

class SharedFd {
 public:
  SharedFd() = default;
  explicit SharedFd(UniqueFd fd) {
    if (fd.valid()) owner_ = std::make_shared<const UniqueFd>(std::move(fd));
  }
  int get() const { return owner_ ? owner_->get() : -1; }
  bool valid() const { return owner_ != nullptr; }
  void Reset() { owner_.reset(); }

 private:
  std::shared_ptr<const UniqueFd> owner_;
};

}  // namespace fc
