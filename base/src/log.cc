// Log lines; see log.h.
#include "fc/base/log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

namespace fc::log {
namespace {
std::atomic<const char*> program{"fc"};
}  // namespace

void SetProgram(const char* name) { program.store(name); }

Status RedirectStderr(const std::string& path) {
  if (path.empty()) return Status::Ok();
  // Root never follows a symlink at the log's name, nor appends to a file
  // hard-linked from elsewhere: a user who can write the log's directory may
  // have planted either.
  const bool root = ::geteuid() == 0;
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY | (root ? O_NOFOLLOW : 0),
                        0640);
  if (fd < 0 && errno == ELOOP && root) {
    return Status::Error("error log \"" + path + "\" is a symlink; fc, running as root, does not follow it: "
                         "remove it, or name the file itself");
  }
  if (fd < 0) return Status::FromErrno(errno, "open", "error log \"" + path + "\"");
  struct stat st;
  if (root && ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink != 1) {
    ::close(fd);
    return Status::Error("error log \"" + path + "\" has " + std::to_string(st.st_nlink) +
                         " hard links; fc, running as root, will not append to a file that is also elsewhere");
  }
  const int rc = ::dup2(fd, 2);  // fd 2 itself stays open across exec and fork
  const int err = errno;
  ::close(fd);
  if (rc < 0) return Status::FromErrno(err, "dup2", "error log \"" + path + "\"");
  return Status::Ok();
}

void Write(const std::string& message) {
  std::string line = program.load();
  line += '[';
  line += std::to_string(::getpid());
  line += "] ";
  line += message;
  line += '\n';
  size_t done = 0;
  while (done < line.size()) {
    const ssize_t n = ::write(2, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // stderr is gone: nothing better to do
    done += static_cast<size_t>(n);
  }
}

}  // namespace fc::log
