// fc-shmdump: inspect a live fc cache segment from outside the server.
//
// It maps the segment and takes the shared lock with a short timeout (never a
// blocking wait), copies what it needs, and releases it at once, so it can
// never wedge the server; if the lock stays busy it prints an unlocked (possibly
// torn) snapshot and says so. --check runs the consistency check.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include <boost/program_options.hpp>

#include "fc/base/cli.h"
#include "fc/base/json.h"
#include "fc/base/net.h"
#include "fc/shm_cache/cache.h"
#include "gc.h"

namespace po = boost::program_options;
using fc::shm_cache::Snapshot;

namespace {

// A slot with a process (alive or not yet reclaimed) or pins; the segment has
// twice as many slots as workers, so that replacements can attach.
bool InUse(const fc::shm_cache::WorkerInfo& w) { return w.pid != 0 || w.pins != 0; }

void PrintJson(const Snapshot& s) {
  std::string out = "{";
  auto field = [&](const char* key, const std::string& value, bool first = false) {
    out += (first ? "\n  \"" : ",\n  \"") + std::string(key) + "\": " + value;
  };
  field("capacity", std::to_string(s.capacity), true);
  field("used", std::to_string(s.used));
  field("free", std::to_string(s.free));
  field("segment_size", std::to_string(s.segment_size));
  field("packet_size", std::to_string(s.packet_size));
  field("packet_count", std::to_string(s.packet_count));
  field("entry_capacity", std::to_string(s.entry_capacity));
  field("generation", std::to_string(s.generation));
  field("policy", fc::json::Quote(s.policy));
  field("layout_version", std::to_string(s.layout_version));
  field("master_pid", std::to_string(s.master_pid));
  field("locked", s.locked ? "true" : "false");
  field("stats", "{\"hits\": " + std::to_string(s.hits) + ", \"misses\": " +
                     std::to_string(s.misses) + ", \"loads\": " + std::to_string(s.loads) +
                     ", \"evictions\": " + std::to_string(s.evictions) +
                     ", \"stale_drops\": " + std::to_string(s.stale_drops) +
                     ", \"repairs\": " + std::to_string(s.repairs) +
                     ", \"reclaimed_pins\": " + std::to_string(s.reclaimed_pins) +
                     ", \"lock_timeouts\": " + std::to_string(s.lock_timeouts) + "}");
  std::string entries = "[";
  for (size_t i = 0; i < s.entries.size(); ++i) {
    const auto& e = s.entries[i];
    char age[32];
    std::snprintf(age, sizeof(age), "%.3f", e.age_seconds);
    entries += (i ? ",\n    " : "\n    ") + std::string("{\"name\": ") + fc::json::Quote(e.name) +
               ", \"size\": " + std::to_string(e.size) + ", \"state\": " +
               fc::json::Quote(fc::shm_cache::EntryStateName(e.state)) + ", \"readers\": " + std::to_string(e.readers) +
               ", \"hits\": " + std::to_string(e.hits) + ", \"packets\": " +
               std::to_string(e.packets) + ", \"age\": " + age +
               (e.loader_pid != 0 ? ", \"loader_pid\": " + std::to_string(e.loader_pid) : std::string()) + "}";
  }
  field("entries", entries + (s.entries.empty() ? "]" : "\n  ]"));
  std::string workers = "[";
  size_t shown = 0;
  for (const auto& w : s.workers) {
    if (!InUse(w)) continue;
    workers += (shown++ ? ",\n    " : "\n    ") + std::string("{\"slot\": ") + std::to_string(w.slot) +
               ", \"pid\": " + std::to_string(w.pid) + ", \"alive\": " +
               (w.alive ? "true" : "false") + ", \"pins\": " + std::to_string(w.pins) +
               ", \"epoch\": " + std::to_string(w.epoch) + "}";
  }
  field("workers", workers + "\n  ]");
  out += "\n}\n";
  std::fputs(out.c_str(), stdout);
}

void PrintText(const std::string& name, const Snapshot& s) {
  std::printf("segment %s: %llu bytes, layout version %u, generation %llu, policy %s, master pid %d%s\n",
              name.c_str(), static_cast<unsigned long long>(s.segment_size), s.layout_version,
              static_cast<unsigned long long>(s.generation), s.policy.c_str(), s.master_pid,
              s.locked ? "" : "  (LOCK BUSY: unlocked snapshot, may be inconsistent)");
  std::printf("capacity %llu  used %llu  free %llu  (%u packets of %u bytes, %u entry slots)\n",
              static_cast<unsigned long long>(s.capacity), static_cast<unsigned long long>(s.used),
              static_cast<unsigned long long>(s.free), s.packet_count, s.packet_size,
              s.entry_capacity);
  std::printf("hits %llu  misses %llu  loads %llu  evictions %llu  stale %llu  repairs %llu  "
              "reclaimed pins %llu  lock timeouts %llu\n\n",
              static_cast<unsigned long long>(s.hits), static_cast<unsigned long long>(s.misses),
              static_cast<unsigned long long>(s.loads),
              static_cast<unsigned long long>(s.evictions),
              static_cast<unsigned long long>(s.stale_drops),
              static_cast<unsigned long long>(s.repairs),
              static_cast<unsigned long long>(s.reclaimed_pins),
              static_cast<unsigned long long>(s.lock_timeouts));
  std::printf("%-40s %12s %-8s %7s %8s %9s\n", "ENTRY (eviction order)", "SIZE", "STATE",
              "READERS", "HITS", "AGE(s)");
  for (const auto& e : s.entries) {
    // A loading entry shows who loads it: "loading:PID".
    const std::string state_name = fc::shm_cache::EntryStateName(e.state);
    const std::string state =
        e.loader_pid != 0 ? state_name + ":" + std::to_string(e.loader_pid) : state_name;
    std::printf("%-40s %12llu %-8s %7u %8llu %9.1f\n", e.name.c_str(),
                static_cast<unsigned long long>(e.size), state.c_str(), e.readers,
                static_cast<unsigned long long>(e.hits), e.age_seconds);
  }
  std::printf("\n%-6s %8s %-6s %8s %6s\n", "SLOT", "PID", "ALIVE", "PINS", "EPOCH");
  for (const auto& w : s.workers) {
    if (!InUse(w)) continue;
    std::printf("%-6u %8d %-6s %8llu %6llu\n", w.slot, w.pid, w.alive ? "yes" : "no",
                static_cast<unsigned long long>(w.pins), static_cast<unsigned long long>(w.epoch));
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string port, shm_name;
  int timeout_ms = 500;
  po::options_description opts(
      "Usage: fc-shmdump [--port P | --shm-name NAME] [--json] [--check]   (default: --port 9000)\n"
      "  or:  fc-shmdump --gc [--remove]\n\n"
      "Prints a live fc cache segment: capacity, used, free, packet size, generation,\n"
      "every entry (name, size, state, readers, hits, age) and every worker slot (pid,\n"
      "alive, pins). Takes the shared lock for at most --lock-timeout ms, never longer.\n"
      "--gc lists this user's segments (and lock directories) whose master is gone (as\n"
      "root: every user's, each looked at and removed as its owner)\n"
      "(checked by pid and start time, so a reused pid cannot fool it); --remove deletes them;\n"
      "with --shm-name, only that segment.\n"
      "Exit status: 0 ok, 1 segment missing or --check found a violation, 2 usage.\n\n"
      "Options");
  opts.add_options()
      ("help,h", "print this help and exit")
      ("port", po::value(&port)->value_name("P"), "the server's port (segment fc-P; default 9000, as fc-master's)")
      ("shm-name", po::value(&shm_name)->value_name("NAME"), "the segment name")
      ("json", "print one JSON object")
      ("check", "run the consistency check; exit 1 on any violation")
      ("lock-timeout", po::value(&timeout_ms)->value_name("MS"), "lock wait (default 500)")
      ("gc", "list segments of dead masters")
      ("remove", "with --gc: delete them and their lock directories");
  po::variables_map vm;
  if (int rc = fc::cli::Parse("fc-shmdump", argc, argv, opts, opts, nullptr, &vm); rc >= 0) return rc;
  if (vm.count("gc")) return fc::shmdump::CollectGarbage(vm.count("remove") > 0, shm_name);
  if (vm.count("remove")) {
    std::fprintf(stderr, "fc-shmdump: --remove goes with --gc\n");
    return 2;
  }
  if (!port.empty() && !shm_name.empty()) {
    std::fprintf(stderr, "fc-shmdump: give --port or --shm-name, not both\n");
    return 2;
  }
  if (port.empty() && shm_name.empty()) port = "9000";  // fc-master's default port
  if (!port.empty()) {
    auto p = fc::net::ParsePort(port);
    if (!p.ok()) {
      std::fprintf(stderr, "fc-shmdump: %s\n", p.status().message().c_str());
      return 2;
    }
    shm_name = "fc-" + std::to_string(p.value());
  }
  // As root, read a segment as its owner (fc refuses segments of other users,
  // and a service usually runs as its own user).
  if (::geteuid() == 0) {
    struct stat st;
    if (::stat(("/dev/shm/" + shm_name).c_str(), &st) == 0 && st.st_uid != 0 &&
        (::setgid(st.st_gid) != 0 || ::setuid(st.st_uid) != 0)) {
      std::fprintf(stderr, "fc-shmdump: cannot become uid %u to read %s\n",
                   static_cast<unsigned>(st.st_uid), shm_name.c_str());
      return 1;
    }
  }
  auto cache = fc::shm_cache::ShmCache::Open(shm_name);
  if (!cache.ok()) {
    std::fprintf(stderr, "fc-shmdump: %s\n", cache.status().message().c_str());
    return 1;
  }
  if (vm.count("check")) {
    const auto problems = cache.value()->Check(timeout_ms);
    for (const auto& p : problems) std::printf("VIOLATION: %s\n", p.c_str());
    if (problems.empty()) std::printf("segment %s: consistent\n", shm_name.c_str());
    return problems.empty() ? 0 : 1;
  }
  const Snapshot snap = cache.value()->TakeSnapshot(timeout_ms);
  if (vm.count("json")) {
    PrintJson(snap);
  } else {
    PrintText(shm_name, snap);
  }
  return 0;
}
