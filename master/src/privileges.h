// Internal header: dropping root after the port is bound, as nginx's workers
// run as an unprivileged user. Everything fc creates afterwards (the segment,
// the lock directory) belongs to that user, and the kernel's permission checks
// apply to every file it serves. Single-threaded use (before any fork).
#pragma once

#include <string>

#include "fc/protocol/status.h"

namespace fc::master {

// When running as root: switches the whole process (groups, gid, uid) to
// `user`, then checks that `root_dir` is still readable. "root" keeps root.
// When not root: `user` must be empty or name the current user.
Status DropPrivileges(const std::string& user, const std::string& root_dir);

}  // namespace fc::master
