// Dropping root; see privileges.h.
#include "fc/base/status.h"
#include "privileges.h"

#include <fcntl.h>
#include <grp.h>
#include <sys/stat.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "fc/base/private_dir.h"
#include "fc/base/unique_fd.h"

namespace fc::master {

Status DropPrivileges(const std::string& user, const std::string& root_dir) {
  if (::geteuid() != 0) {
    if (user.empty()) return Status::Ok();
    const passwd* me = ::getpwuid(::geteuid());
    if (me != nullptr && user == me->pw_name) return Status::Ok();
    return Status::Error("--user " + user + " needs fc-master to start as root");
  }
  if (user == "root") {
    std::fprintf(stderr, "fc-master: warning: --user root: workers keep root's rights and serve "
                         "files whatever their permissions\n");
    return Status::Ok();
  }
  errno = 0;
  const passwd* pw = ::getpwnam(user.c_str());
  if (pw == nullptr) {
    return Status::Error("--user " + user + ": no such user" + (errno ? std::string(": ") + ErrnoText(errno) : ""));
  }
  const uid_t uid = pw->pw_uid;
  const gid_t gid = pw->pw_gid;
  if (::initgroups(pw->pw_name, gid) != 0) return Status::FromErrno(errno, "initgroups", user);
  if (::setgid(gid) != 0) return Status::FromErrno(errno, "setgid", user);
  if (::setuid(uid) != 0) return Status::FromErrno(errno, "setuid", user);
  if (::setuid(0) == 0) return Status::Error("dropped to " + user + " but could regain root; refusing");
  if (::access(root_dir.c_str(), R_OK | X_OK) != 0) {
    return Status::Error("user " + user + " cannot read the served directory \"" + root_dir + "\": " +
                         ErrnoText(errno) + " (give it read and search permission, or "
                         "choose another --user)");
  }
  return Status::Ok();
}

Status ClaimDirectory(const std::string& dir, const std::string& user, bool take_over, bool* created) {
  if (created != nullptr) *created = ::access(dir.c_str(), F_OK) != 0;
  uid_t uid = 0;
  gid_t gid = 0;
  if (user != "root") {
    errno = 0;
    const passwd* pw = ::getpwnam(user.c_str());
    if (pw == nullptr) return Status::Error("--user " + user + ": no such user");
    uid = pw->pw_uid;
    gid = pw->pw_gid;
  }
  const size_t slash = dir.find_last_of('/');
  const std::string parent = slash == std::string::npos ? "." : slash == 0 ? "/" : dir.substr(0, slash);
  struct stat ps;
  // Only root (or the user itself) can have made an entry in such a parent.
  const bool safe_parent = ::stat(parent.c_str(), &ps) == 0 && S_ISDIR(ps.st_mode) &&
                           (ps.st_uid == 0 || ps.st_uid == uid) && (ps.st_mode & 022) == 0;
  if (!take_over || !safe_parent) {
    if (Status st = EnsurePrivateDirectory(dir); !st.ok()) return st;
    return user == "root" ? Status::Ok() : GiveToUser(dir, user);
  }
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return Status::FromErrno(errno, "mkdir", dir);
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) {
    return Status::Error("\"" + dir + "\" exists and is not a directory (or is a symlink); remove it or "
                         "choose another --lock-dir");
  }
  if (::fchown(fd.get(), uid, gid) != 0) return Status::FromErrno(errno, "chown", dir + " to " + user);
  if (::fchmod(fd.get(), 0700) != 0) return Status::FromErrno(errno, "chmod", dir);
  return Status::Ok();
}

Status PrepareLogFile(const std::string& path, const std::string& user) {
  errno = 0;
  const passwd* pw = ::getpwnam(user.c_str());
  if (pw == nullptr) return Status::Error("--user " + user + ": no such user");
  UniqueFd file(::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW, 0640));
  if (!file.valid()) {
    if (errno == ELOOP) {
      return Status::Error("log \"" + path + "\" is a symlink; fc, started as root, does not follow it (a "
                           "user who can write its directory may have planted it): remove it");
    }
    return Status::FromErrno(errno, "open", "log \"" + path + "\"");
  }
  struct stat st;
  if (::fstat(file.get(), &st) != 0) return Status::FromErrno(errno, "fstat", "log \"" + path + "\"");
  if (!S_ISREG(st.st_mode)) return Status::Error("log \"" + path + "\" is not a regular file");
  if (st.st_nlink != 1) {
    return Status::Error("log \"" + path + "\" has " + std::to_string(st.st_nlink) +
                         " hard links; fc, started as root, will not give a file that is also elsewhere "
                         "to --user " + user + ": remove it");
  }
  if (::fchown(file.get(), pw->pw_uid, pw->pw_gid) != 0) {
    return Status::FromErrno(errno, "chown", "log \"" + path + "\" to " + user);
  }
  return Status::Ok();
}

Status GiveToUser(const std::string& path, const std::string& user) {
  errno = 0;
  const passwd* pw = ::getpwnam(user.c_str());
  if (pw == nullptr) return Status::Error("--user " + user + ": no such user");
  if (::chown(path.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
    return Status::FromErrno(errno, "chown", path + " to " + user);
  }
  return Status::Ok();
}

}  // namespace fc::master
