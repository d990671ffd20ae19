// Uploads written through an unnamed file and renamed into place; see upload.h.
#include "upload.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

namespace fc::worker {

using protocol::Code;

namespace {

Refusal FromErrno(int err, const std::string& what, const std::string& name) {
  if (err == ENOSPC || err == EDQUOT) {
    return {Code::kNoSpace, "no space left on the server's disk for \"" + name +
                                "\"; nothing was stored"};
  }
  if (err == ENOENT || err == ENOTDIR) {
    return {Code::kNotFound, "the directory for \"" + name + "\" does not exist under the root"};
  }
  if (err == EXDEV || err == ELOOP) return {Code::kForbidden, "path leads outside the served root"};
  if (err == EACCES || err == EPERM || err == EROFS) {
    return {Code::kForbidden, "the server may not write \"" + name + "\": " + std::strerror(err)};
  }
  if (err == EISDIR) return {Code::kForbidden, "\"" + name + "\" is a directory"};
  return {Code::kInternal, Status::FromErrno(err, what, name).message()};
}

}  // namespace

std::unique_ptr<Upload> Upload::Begin(const FileSource& files, const std::string& name,
                                      uint64_t length, Refusal* refusal) {
  std::unique_ptr<Upload> up(new Upload());
  up->name_ = name;
  up->length_ = up->left_ = length;
  const size_t slash = name.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : name.substr(0, slash);
  up->base_ = slash == std::string::npos ? name : name.substr(slash + 1);
  if (up->base_.empty() || up->base_ == ".") {
    *refusal = {Code::kBadRequest, "\"" + name + "\" does not name a file"};
    return nullptr;
  }
  const int dfd = files.OpenBeneath(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) {
    *refusal = FromErrno(errno, "openat2", name);
    return nullptr;
  }
  up->dir_.Reset(dfd);
  // O_TMPFILE needs a real directory fd, not O_PATH: reopen it through /proc.
  const std::string self = "/proc/self/fd/" + std::to_string(dfd);
  UniqueFd real_dir(::open(self.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!real_dir.valid()) {
    *refusal = FromErrno(errno, "open", name);
    return nullptr;
  }
  up->file_.Reset(::openat(real_dir.get(), ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644));
  if (!up->file_.valid()) {
    *refusal = FromErrno(errno, "open(O_TMPFILE)", name);
    return nullptr;
  }
  up->dir_ = std::move(real_dir);
  if (length > 0 && ::fallocate(up->file_.get(), 0, 0, static_cast<off_t>(length)) != 0 &&
      (errno == ENOSPC || errno == EDQUOT)) {
    *refusal = FromErrno(errno, "fallocate", name);  // fail early, before the bytes travel
    return nullptr;
  }
  return up;
}

bool Upload::Append(const char* data, size_t size, Refusal* refusal) {
  while (size > 0) {
    const ssize_t n = ::pwrite(file_.get(), data, size, static_cast<off_t>(written_));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      *refusal = FromErrno(errno, "write", name_);
      return false;
    }
    hash_.Update(data, static_cast<size_t>(n));
    data += n;
    size -= static_cast<size_t>(n);
    written_ += static_cast<uint64_t>(n);
    left_ -= static_cast<uint64_t>(n);
  }
  return true;
}

bool Upload::Commit(bool verify, uint64_t expected, Refusal* refusal) {
  if (verify && hash_.Digest() != expected) {
    *refusal = {Code::kBadChecksum, "the upload of \"" + name_ +
                                        "\" does not match its checksum; nothing was stored"};
    return false;
  }
  if (::ftruncate(file_.get(), static_cast<off_t>(length_)) != 0 || ::fsync(file_.get()) != 0) {
    *refusal = FromErrno(errno, "fsync", name_);
    return false;
  }
  static std::atomic<uint64_t> counter{0};
  const std::string temp = ".fc-upload-" + std::to_string(::getpid()) + "-" +
                           std::to_string(counter.fetch_add(1)) + ".part";
  const std::string self = "/proc/self/fd/" + std::to_string(file_.get());
  if (::linkat(AT_FDCWD, self.c_str(), dir_.get(), temp.c_str(), AT_SYMLINK_FOLLOW) != 0) {
    *refusal = FromErrno(errno, "linkat", name_);
    return false;
  }
  if (::renameat(dir_.get(), temp.c_str(), dir_.get(), base_.c_str()) != 0) {
    const int err = errno;
    ::unlinkat(dir_.get(), temp.c_str(), 0);
    *refusal = FromErrno(err, "rename", name_);
    return false;
  }
  ::fsync(dir_.get());
  return true;
}

}  // namespace fc::worker
