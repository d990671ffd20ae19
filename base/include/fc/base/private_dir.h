// Private directories: where fc keeps state that other local users must not
// touch (the load lock files). A private directory is a real directory (not a
// symlink), owned by the effective user, with no group or other permissions.
// Used by the master (to create one) and the workers (to recreate one that was
// removed under them). Thread-safe: no shared state.
#pragma once

#include <sys/types.h>

#include <string>

#include "fc/base/status.h"

namespace fc {

// Creates `path` with `mode` (0700), or accepts it if it already exists, is
// this user's and grants no more than `mode`. Anything else (a symlink, a
// file, another owner, more permissions) is an error whose message names the
// directory and the fix.
Status EnsurePrivateDirectory(const std::string& path, mode_t mode = 0700);

// Whether `path` is on a tmpfs or ramfs (memory: no disk write per lock).
bool OnTmpfs(const std::string& path);
// Root's base for default lock directories: /run/fc where /run is a tmpfs
// (as systemd mounts it), else /dev/shm/fc, so the default is always memory.
std::string RootLockBase();

// Where the lock files of segment `shm_name` go by default:
//   $RUNTIME_DIRECTORY (set by systemd's RuntimeDirectory=), else
//   RootLockBase() when running as root, else $XDG_RUNTIME_DIR, each +
//   "/<shm_name>.locks"; else a fresh mkdtemp directory
//   "/dev/shm/<shm_name>.locks.XXXXXX" ($TMPDIR if /dev/shm is no tmpfs).
// Root's base is made 0711: other users may pass through to a lock directory
// given to the user fc drops to, but not list it.
Result<std::string> DefaultLockDirectory(const std::string& shm_name);

// Removes fc's load lock files (*.lock) from `dir`; with `and_directory`, then
// the directory itself. Returns false if the directory is still there.
bool RemoveLockFiles(const std::string& dir, bool and_directory);

}  // namespace fc
