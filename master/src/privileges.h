// Internal header: dropping root after the port is bound, as nginx's workers
// run as an unprivileged user. Everything fc creates afterwards (the segment,
// the lock directory) belongs to that user, and the kernel's permission checks
// apply to every file it serves. Single-threaded use (before any fork).
#pragma once

#include <string>

#include "fc/base/status.h"

namespace fc::master {

// When running as root: switches the whole process (groups, gid, uid) to
// `user`, then checks that `root_dir` is still readable. "root" keeps root.
// When not root: `user` must be empty or name the current user.
Status DropPrivileges(const std::string& user, const std::string& root_dir);

// As root, before the drop: gives `path` (a directory fc just made) to `user`.
Status GiveToUser(const std::string& path, const std::string& user);

// As root, before the drop: opens (creating it 0640) the log file `path` and
// gives it to `user`, so that the user appends to it and reopens it after a
// rotation (log files under /var/log/fc). A directory the user can write to
// may hold a plant; so the last component is never followed (O_NOFOLLOW: a
// symlink is refused), the file must be a regular file with one link (a hard
// link to a file elsewhere is refused), and the owner is changed through the
// open descriptor, never by name. Each refusal names the path.
Status PrepareLogFile(const std::string& path, const std::string& user);

// As root, before the drop: makes `dir` a private directory (0700) of `user`
// ("root" or a user name). With `take_over` (fc's default location), one that
// an earlier run as another user left is taken back when its parent is root's
// (or the user's) and writable by no one else (/run/fc, systemd's
// RuntimeDirectory, /run/fc/USER), so that no other user can have planted it; otherwise the usual checks apply
// (private_dir.h) before it is given to the user.
// *created: it did not exist before.
Status ClaimDirectory(const std::string& dir, const std::string& user, bool take_over,
                      bool* created = nullptr);

}  // namespace fc::master
