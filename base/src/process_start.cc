// Process start times from /proc; see process_start.h.
#include "fc/base/process_start.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

namespace fc {

int64_t ProcessStartTime(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!std::getline(in, text)) return -1;
  // "pid (comm) state ..." where comm may hold spaces and parentheses: the
  // fields after the last ')' start with field 3.
  const size_t close = text.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream fields(text.substr(close + 2));
  std::string field;
  for (int i = 3; i <= 22; ++i) {
    if (!(fields >> field)) return -1;
  }
  return std::strtoll(field.c_str(), nullptr, 10);
}

}  // namespace fc
