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

// As root, before the drop: gives `path` (a directory fc just made) to `user`,
// so that it stays fc's after the drop (the lock directory under a
// root-owned /run/fc or systemd's RuntimeDirectory).
Status GiveToUser(const std::string& path, const std::string& user);

}  // namespace fc::master
