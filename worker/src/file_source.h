// Internal header: opening a requested name confined to the served root.
//
// A name is first made canonical (empty and "." components dropped, so that
// "./a//b" and "a/b" are one cache entry and one lock file) and checked
// lexically (no NUL, not absolute, no ".." component, components of at most
// 255 bytes, at most 4095 bytes in all, nothing under the reserved ".fc/"),
// then opened with openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS) from the
// root's directory fd, so a symlink (or a component swapped for one after the
// check) cannot lead outside the root. Symlinks that stay inside are followed.
// The open is O_NONBLOCK so a FIFO or device never blocks; anything but a
// regular file is refused. Thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "fc/base/unique_fd.h"
#include "fc/protocol/wire.h"
#include "fc/shm_cache/cache.h"

namespace fc::worker {

// A regular file opened beneath the root. The descriptor may be shared (the
// worker keeps it for the next miss: open_files.h).
struct OpenedFile {
  SharedFd fd;
  shm_cache::FileIdentity identity;
};

// The worker's one error model, next to Status (base/status.h):
//   Status / Result<T>  fc's own failures (setup, system calls); logged;
//   Refusal             an answer to a client: the reply's code and message.
// Whatever a request can fail with returns a Refusal (ok() when it did not
// fail), and a loader thread hands one back inside its LoadResult.
struct Refusal {
  protocol::Code code = protocol::Code::kOk;
  std::string message;
  bool ok() const { return code == protocol::Code::kOk; }
};

// The one errno -> reply mapping, for opening (and, when `writing`, storing)
// `name` under the root: not found, forbidden, too long, no space; anything
// unexpected is INTERNAL with the call and strerror (logged, never sent).
Refusal RefusalFromErrno(int err, const char* call, const std::string& name, bool writing);

class FileSource {
 public:
  // Opens `root` as the confinement directory; fails if it is not a directory.
  static Result<FileSource> Open(const std::string& root);

  // The canonical form of a requested name in *out; code kOk when acceptable.
  // Used for both protocols and uploads, before the cache, locks or disk.
  // `root_ok`: a name that is the root itself ("./", "%2e/") is "" rather
  // than refused (a directory's URL).
  static Refusal CanonicalName(std::string_view name, std::string* out, bool root_ok = false);
  // Whether a canonical name has a component beginning with '.' (".git/HEAD",
  // "a/.env"): such names are never listed (docs/security.md).
  static bool HasDotSegment(std::string_view name);
  // Whether --dotfiles deny refuses it: a dot-segment, except under
  // ".well-known/" (RFC 8615: ACME challenges, security.txt).
  static bool IsDeniedDotName(std::string_view name);
  // Opens `name` beneath the root for reading.
  Refusal OpenFile(std::string_view name, OpenedFile* out) const;
  // The one confined open: openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS) from
  // the root, retrying EINTR/EAGAIN. Returns the fd, or -1 with errno set.
  int OpenBeneath(const std::string& path, int flags) const;

  int root_fd() const { return root_fd_.get(); }

 private:
  explicit FileSource(UniqueFd root_fd) : root_fd_(std::move(root_fd)) {}
  UniqueFd root_fd_;
};

}  // namespace fc::worker
