// Log lines; see log.h.
#include "fc/protocol/log.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>

namespace fc::log {
namespace {
std::atomic<const char*> program{"fc"};
}  // namespace

void SetProgram(const char* name) { program.store(name); }

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
