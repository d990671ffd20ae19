// Uploads written through an unnamed file and renamed into place; see upload.h.
#include "upload.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

namespace fc::worker {

using protocol::Code;

namespace {
Refusal FromErrno(int err, const char* call, const std::string& name) {
  return RefusalFromErrno(err, call, name, /*writing=*/true);
}
}  // namespace

Refusal Upload::Begin(const FileSource& files, const std::string& name, uint64_t length,
                      std::unique_ptr<Upload>* out) {
  std::unique_ptr<Upload> up(new Upload());
  up->name_ = name;
  up->length_ = up->left_ = length;
  const size_t slash = name.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : name.substr(0, slash);
  up->base_ = slash == std::string::npos ? name : name.substr(slash + 1);
  if (up->base_.empty() || up->base_ == ".") {
    return {Code::kBadRequest, "\"" + name + "\" does not name a file"};
  }
  const int dfd = files.OpenBeneath(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) {
    return FromErrno(errno, "openat2", name);
  }
  up->dir_.Reset(dfd);
  // O_TMPFILE needs a real directory fd, not O_PATH: reopen it through /proc.
  const std::string self = "/proc/self/fd/" + std::to_string(dfd);
  UniqueFd real_dir(::open(self.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!real_dir.valid()) {
    return FromErrno(errno, "open", name);
  }
  up->file_.Reset(::openat(real_dir.get(), ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644));
  if (!up->file_.valid()) {
    return FromErrno(errno, "open(O_TMPFILE)", name);
  }
  up->dir_ = std::move(real_dir);
  // Fail early when the upload cannot fit, but reserve nothing: disk is taken
  // only as bytes arrive, so declared lengths alone cannot fill the disk.
  struct statvfs vfs;
  if (::fstatvfs(up->file_.get(), &vfs) == 0 &&
      length > uint64_t{vfs.f_bavail} * vfs.f_frsize) {
    return {Code::kNoSpace, "an upload of " + std::to_string(length) + " bytes does not fit: the "
                                "server's disk has " + std::to_string(uint64_t{vfs.f_bavail} * vfs.f_frsize) +
                                " bytes free; nothing was stored"};
  }
  *out = std::move(up);
  return {};
}

Refusal Upload::Append(const char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = ::pwrite(file_.get(), data, size, static_cast<off_t>(written_));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      return FromErrno(errno, "write", name_);
    }
    hash_.Update(data, static_cast<size_t>(n));
    data += n;
    size -= static_cast<size_t>(n);
    written_ += static_cast<uint64_t>(n);
    left_ -= static_cast<uint64_t>(n);
  }
  return {};
}

Refusal Upload::Commit(bool verify, uint64_t expected) {
  if (verify && hash_.Digest() != expected) {
    return {Code::kBadChecksum, "the upload of \"" + name_ +
                                        "\" does not match its checksum; nothing was stored"};
  }
  if (::ftruncate(file_.get(), static_cast<off_t>(length_)) != 0 || ::fsync(file_.get()) != 0) {
    return FromErrno(errno, "fsync", name_);
  }
  static std::atomic<uint64_t> counter{0};
  const std::string temp = ".fc-upload-" + std::to_string(::getpid()) + "-" +
                           std::to_string(counter.fetch_add(1)) + ".part";
  const std::string self = "/proc/self/fd/" + std::to_string(file_.get());
  if (::linkat(AT_FDCWD, self.c_str(), dir_.get(), temp.c_str(), AT_SYMLINK_FOLLOW) != 0) {
    return FromErrno(errno, "linkat", name_);
  }
  if (::renameat(dir_.get(), temp.c_str(), dir_.get(), base_.c_str()) != 0) {
    const int err = errno;
    ::unlinkat(dir_.get(), temp.c_str(), 0);
    return FromErrno(err, "rename", name_);
  }
  ::fsync(dir_.get());
  return {};
}

}  // namespace fc::worker
