// Confined opens of requested names; see file_source.h.
#include "fc/base/status.h"
#include "fc/base/clock.h"
#include "file_source.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace fc::worker {

using protocol::Code;

namespace {
constexpr size_t kMaxComponentLength = 255;  // NAME_MAX
constexpr std::string_view kReservedDirectory = ".fc";
}  // namespace

Result<FileSource> FileSource::Open(const std::string& root) {
  UniqueFd fd(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return Status::FromErrno(errno, "open", root);
  return FileSource(std::move(fd));
}

Refusal FileSource::CanonicalName(std::string_view name, std::string* out, bool root_ok) {
  out->clear();
  if (name.empty()) return {Code::kBadRequest, "empty file name"};
  if (name.size() > protocol::kMaxNameLength) {
    return {Code::kTooLarge, "file name longer than 4096 bytes"};
  }
  if (name.find('\0') != std::string_view::npos) {
    return {Code::kForbidden, "file name contains a NUL byte"};
  }
  if (name.front() == '/') return {Code::kForbidden, "absolute paths are refused"};
  out->reserve(name.size());
  size_t start = 0;
  while (start <= name.size()) {
    size_t end = name.find('/', start);
    if (end == std::string_view::npos) end = name.size();
    const std::string_view part = name.substr(start, end - start);
    start = end + 1;
    if (part.empty() || part == ".") continue;
    if (part == "..") return {Code::kForbidden, "\"..\" components are refused"};
    if (part.size() > kMaxComponentLength) {
      return {Code::kTooLarge, "a path component is longer than 255 bytes"};
    }
    if (out->empty() && part == kReservedDirectory) {
      return {Code::kForbidden, "names under \".fc/\" are reserved for the server"};
    }
    if (!out->empty()) out->push_back('/');
    out->append(part);
  }
  if (out->empty() && !root_ok) return {Code::kForbidden, "is the served root, a directory"};
  if (out->size() >= protocol::kMaxNameLength) {
    return {Code::kTooLarge, "file name longer than 4095 bytes"};
  }
  return {};
}

bool FileSource::HasDotSegment(std::string_view name) {
  for (size_t start = 0; start < name.size();) {
    if (name[start] == '.') return true;
    const size_t slash = name.find('/', start);
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return false;
}

bool FileSource::IsDeniedDotName(std::string_view name) {
  constexpr std::string_view kWellKnown = ".well-known";
  if (name.substr(0, kWellKnown.size()) == kWellKnown &&
      (name.size() == kWellKnown.size() || name[kWellKnown.size()] == '/')) {
    name.remove_prefix(std::min(name.size(), kWellKnown.size() + 1));  // and its '/'
  }
  return HasDotSegment(name);
}

Refusal RefusalFromErrno(int err, const char* call, const std::string& name, bool writing) {
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return {Code::kNotFound, writing ? "the directory for \"" + name + "\" does not exist under the root"
                                       : std::string("no such file under the served root")};
    case EXDEV:
    case ELOOP:
      return {Code::kForbidden, "path leads outside the served root"};
    case EACCES:
    case EPERM:
    case EROFS:
      return {Code::kForbidden, writing ? "the server may not write \"" + name + "\": " + ErrnoText(err)
                                        : std::string("permission denied")};
    case EISDIR:
      return {Code::kForbidden, "\"" + name + "\" is a directory"};
    case ENXIO:  // a socket file
      return {Code::kForbidden, "not a regular file"};
    case ENAMETOOLONG:
      return {Code::kTooLarge, "file name too long"};
    case ENOSPC:
    case EDQUOT:
      return {Code::kNoSpace, "no space left on the server's disk for \"" + name + "\"; nothing was stored"};
    default:
      return {Code::kInternal, Status::FromErrno(err, call, name).message()};
  }
}

int FileSource::OpenBeneath(const std::string& path, int flags) const {
  open_how how;
  std::memset(&how, 0, sizeof(how));
  how.flags = static_cast<uint64_t>(flags);
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  int fd;
  do {
    fd = static_cast<int>(::syscall(SYS_openat2, root_fd_.get(), path.c_str(), &how, sizeof(how)));
  } while (fd < 0 && (errno == EINTR || errno == EAGAIN));
  return fd;
}

Refusal FileSource::OpenFile(std::string_view name, OpenedFile* out) const {
  const std::string path(name);
  const int fd = OpenBeneath(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    return RefusalFromErrno(errno, "openat2", path, /*writing=*/false);
  }
  UniqueFd owned(fd);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    return {Code::kInternal, Status::FromErrno(errno, "fstat", path).message()};
  }
  if (!S_ISREG(st.st_mode)) {
    return {Code::kForbidden, S_ISDIR(st.st_mode) ? "is a directory" : "not a regular file"};
  }
  out->fd = SharedFd(std::move(owned));
  out->identity.size = static_cast<uint64_t>(st.st_size);
  out->identity.mtime_ns = Nanoseconds(st.st_mtim);
  out->identity.ino = st.st_ino;
  out->identity.dev = st.st_dev;
  out->identity.ctime_ns = Nanoseconds(st.st_ctim);
  return {};
}

}  // namespace fc::worker
