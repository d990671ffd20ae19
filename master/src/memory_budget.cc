// --cache-size auto; see memory_budget.h.
#include "memory_budget.h"

#include <sys/statvfs.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

namespace fc::master {
namespace {

constexpr uint64_t kMiB = 1 << 20;

std::string MiB(uint64_t bytes) { return std::to_string(bytes / kMiB) + " MiB"; }

// A number from the first line of `path` ("max" or absent: 0).
uint64_t ReadLimit(const std::string& path) {
  std::ifstream in(path);
  std::string word;
  if (!(in >> word) || word == "max") return 0;
  char* end = nullptr;
  const unsigned long long v = std::strtoull(word.c_str(), &end, 10);
  return end != nullptr && *end == '\0' ? v : 0;
}

// v1 reports "no limit" as a huge page-aligned number.
uint64_t Real(uint64_t limit) { return limit >= (uint64_t{1} << 60) ? 0 : limit; }

uint64_t Tighter(uint64_t a, uint64_t b) {
  if (a == 0) return b;
  if (b == 0) return a;
  return std::min(a, b);
}

// This process's cgroup paths: "" key for v2, the controller list for v1.
std::vector<std::pair<std::string, std::string>> OwnCgroups() {
  std::vector<std::pair<std::string, std::string>> out;
  std::ifstream in("/proc/self/cgroup");
  for (std::string line; std::getline(in, line);) {
    const size_t a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    out.emplace_back(line.substr(a + 1, b - a - 1), line.substr(b + 1));
  }
  return out;
}

bool HasController(const std::string& list, const std::string& name) {
  std::istringstream in(list);
  for (std::string c; std::getline(in, c, ',');) {
    if (c == name) return true;
  }
  return false;
}

// v2: memory.max of the cgroup and every ancestor under `mount`.
uint64_t V2Limit(const std::string& mount, std::string path) {
  uint64_t limit = 0;
  for (;;) {
    limit = Tighter(limit, ReadLimit(mount + path + "/memory.max"));
    if (path.empty() || path == "/") break;
    path = path.substr(0, path.find_last_of('/'));
  }
  return limit;
}

// v1: hierarchical_memory_limit already is the tightest of the ancestors.
uint64_t V1Limit(const std::string& dir) {
  std::ifstream in(dir + "/memory.stat");
  for (std::string key, value; in >> key >> value;) {
    if (key == "hierarchical_memory_limit") return Real(std::strtoull(value.c_str(), nullptr, 10));
  }
  return Real(ReadLimit(dir + "/memory.limit_in_bytes"));
}

uint64_t MachineMemory() {
  std::ifstream in("/proc/meminfo");
  for (std::string key, value, unit; in >> key >> value >> unit;) {
    if (key == "MemTotal:") return std::strtoull(value.c_str(), nullptr, 10) * 1024;
  }
  return 0;
}

}  // namespace

uint64_t CgroupMemoryLimit() {
  uint64_t limit = 0;
  for (const auto& [controllers, path] : OwnCgroups()) {
    if (controllers.empty()) {
      // v2: the unified hierarchy, at /sys/fs/cgroup or (hybrid) /sys/fs/cgroup/unified.
      for (const char* mount : {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"}) {
        // Inside a cgroup namespace the path may be "/" while the files at the
        // mount's root are this cgroup's.
        limit = Tighter(limit, V2Limit(mount, path == "/" ? "" : path));
      }
    } else if (HasController(controllers, "memory")) {
      const std::string base = "/sys/fs/cgroup/memory";
      const uint64_t own = V1Limit(base + path);
      limit = Tighter(limit, own != 0 ? own : V1Limit(base));
    }
  }
  return limit;
}

uint64_t CgroupMemoryUsage() {
  for (const auto& [controllers, path] : OwnCgroups()) {
    const std::string own = path == "/" ? "" : path;
    if (controllers.empty()) {
      for (const char* mount : {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"}) {
        if (const uint64_t used = ReadLimit(std::string(mount) + own + "/memory.current"); used != 0) return used;
      }
    } else if (HasController(controllers, "memory")) {
      return ReadLimit("/sys/fs/cgroup/memory" + own + "/memory.usage_in_bytes");
    }
  }
  return 0;
}

AutoSize AutoCacheSize(uint64_t limit, uint64_t machine_memory) {
  AutoSize out;
  uint64_t budget = limit;
  if (budget == 0) {
    budget = machine_memory / 4;
    out.how = "no cgroup memory limit: a quarter of the machine's " + MiB(machine_memory);
  } else {
    const uint64_t headroom = std::max<uint64_t>(64 * kMiB, limit / 4);
    budget = limit > headroom ? limit - headroom : 0;
    out.how = "cgroup memory limit " + MiB(limit) + " - headroom " + MiB(headroom);
  }
  out.bytes = std::max<uint64_t>(16 * kMiB, budget / kMiB * kMiB);
  return out;
}

static uint64_t ShmFree() {
  struct statvfs vfs;
  if (::statvfs("/dev/shm", &vfs) != 0) return 0;
  return uint64_t{vfs.f_bavail} * vfs.f_frsize;
}

Result<AutoSize> ResolveAutoCacheSize() {
  const uint64_t machine = MachineMemory();
  if (machine == 0) return Status::Error("--cache-size auto: cannot read MemTotal from /proc/meminfo");
  AutoSize size = AutoCacheSize(CgroupMemoryLimit(), machine);
  // Never more than three quarters of what /dev/shm has free.
  if (const uint64_t shm = ShmFree(); shm != 0 && size.bytes > shm / 4 * 3) {
    size.bytes = std::max<uint64_t>(16 * kMiB, shm / 4 * 3 / kMiB * kMiB);
    size.how += ", capped at 3/4 of /dev/shm's " + MiB(shm) + " free";
  }
  return size;
}

}  // namespace fc::master
