// Private directories; see private_dir.h.
#include "fc/base/private_dir.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "fc/base/temp_dir.h"
#include "fc/base/unique_fd.h"

namespace fc {

namespace {
std::string OctalMode(mode_t mode) {
  char text[8];
  std::snprintf(text, sizeof(text), "%03o", static_cast<unsigned>(mode & 0777));
  return text;
}
}  // namespace

Status EnsurePrivateDirectory(const std::string& path, mode_t mode) {
  if (::mkdir(path.c_str(), mode) == 0) return ::chmod(path.c_str(), mode) == 0 ? Status::Ok() : Status::FromErrno(errno, "chmod", path);
  if (errno != EEXIST) return Status::FromErrno(errno, "mkdir", path);
  // It exists: it must be ours. O_NOFOLLOW|O_DIRECTORY refuses a symlink or a file.
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) {
    return Status::Error("\"" + path + "\" exists and is not a directory (or is a symlink); "
                         "remove it or choose another --lock-dir");
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return Status::FromErrno(errno, "fstat", path);
  if (st.st_uid != ::geteuid() || (st.st_mode & 077 & ~mode) != 0) {
    char what[96];
    std::snprintf(what, sizeof(what), "owner uid %u, mode %04o", static_cast<unsigned>(st.st_uid),
                  static_cast<unsigned>(st.st_mode & 07777));
    return Status::Error("\"" + path + "\" is not private to this user (" + what + "; fc needs owner uid " +
                         std::to_string(::geteuid()) + ", no more than mode 0" + OctalMode(mode) + "): another user may have created "
                         "it; remove it or choose another --lock-dir");
  }
  // Ours and stricter than asked (an older fc made /run/fc 0700): widen it.
  if ((st.st_mode & 0777) != mode && ::fchmod(fd.get(), mode) != 0) return Status::FromErrno(errno, "chmod", path);
  return Status::Ok();
}

bool OnTmpfs(const std::string& path) {
  struct statfs fs;
  return ::statfs(path.c_str(), &fs) == 0 && (fs.f_type == TMPFS_MAGIC || fs.f_type == RAMFS_MAGIC);
}

std::string RootLockBase() { return OnTmpfs("/run") ? "/run/fc" : "/dev/shm/fc"; }

Result<std::string> DefaultLockDirectory(const std::string& shm_name) {
  std::string base;
  if (const char* runtime = std::getenv("RUNTIME_DIRECTORY"); runtime && *runtime) {
    base = runtime;
    base = base.substr(0, base.find(':'));  // systemd lists several, colon-separated
  } else if (::geteuid() == 0) {
    // Root's base: others may pass through (to a lock directory fc gives to
    // the user it drops to) but not list it.
    base = RootLockBase();
    Status st = EnsurePrivateDirectory(base, 0711);
    if (!st.ok()) return st;
  } else if (const char* xdg = std::getenv("XDG_RUNTIME_DIR"); xdg && *xdg) {
    base = xdg;
  }
  if (!base.empty()) return base + "/" + shm_name + ".locks";
  std::string pattern = (OnTmpfs("/dev/shm") ? std::string("/dev/shm") : TempDirectory()) + "/" + shm_name +
                        ".locks.XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) return Status::FromErrno(errno, "mkdtemp", pattern);
  return pattern;
}

bool RemoveLockFiles(const std::string& dir, bool and_directory) {
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      const std::string name = e->d_name;
      if (name.size() > 5 && name.compare(name.size() - 5, 5, ".lock") == 0) {
        ::unlinkat(dirfd(d), name.c_str(), 0);
      }
    }
    ::closedir(d);
  }
  if (!and_directory) return true;
  return ::rmdir(dir.c_str()) == 0 || errno == ENOENT;
}

}  // namespace fc
