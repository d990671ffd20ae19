// Internal header of fc-chaos: the generated corpus, the master it runs, and
// the end-of-run settling and statistics. Not thread-safe unless noted.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "fc/base/clock.h"
#include "fc/shm_cache/cache.h"

namespace fc::chaos {

std::string SelfDirectory();  // the directory of this executable

// A scratch directory under /tmp, removed with its files on destruction.
class ScratchDir {
 public:
  ScratchDir();
  ~ScratchDir();
  const std::string& path() const { return path_; }
  // Makes the tree readable by every user (fc dropping to nobody serves it).
  void OpenToAll() const;

 private:
  std::string path_;
};

struct CorpusFile {
  std::string name;
  uint64_t size = 0;
  uint64_t checksum = 0;
  double weight = 1;
};

// Files mixing cacheable sizes, two near the cache's capacity and one too large
// for it, written to a directory. Pick() is thread-safe (const).
class Corpus {
 public:
  static Corpus Generate(const std::string& dir, uint64_t cache_bytes, unsigned seed);
  const CorpusFile& Pick(std::mt19937& rng) const;
  const std::vector<CorpusFile>& files() const { return files_; }
  uint64_t largest() const;

 private:
  std::vector<CorpusFile> files_;
  std::vector<double> cumulative_;
};

// The fc-master under test, on 127.0.0.1 port 0, its log in a file.
class Master {
 public:
  // `user`, when fc-chaos runs as root: fc-master's --user, or "default" for none.
  Master(std::string binary, std::string root, int workers, std::string cache_size, std::string user);
  ~Master();
  bool Start();  // prints why on failure
  void Stop();
  uint16_t port() const { return port_; }
  std::string shm_name() const { return "fc-" + std::to_string(port_); }
  bool IsChild(pid_t pid) const;  // is `pid` a process of this master?
  // Maps the segment, as its owner (root maps a segment of nobody's by
  // taking nobody's euid for the open; the mapping stays).
  fc::Result<std::unique_ptr<fc::shm_cache::ShmCache>> OpenSegment() const;
  // A shell prefix that runs a command as the segment's owner ("" if that is us).
  std::string AsOwner() const;
  // The first sanitizer report in the master's log (empty if none).
  std::string SanitizerReport() const;

 private:
  std::string binary_, root_, cache_size_, user_, log_path_;
  int workers_;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
};

struct Settled {
  uint64_t leaked_pins = 0;
  uint64_t generation = 1;
  uint64_t repairs = 0;
  bool check_passed = false;
  std::string check_output;
};
// After the load stopped: waits for every slot to serve again, then counts pins
// still held and runs `fc-shmdump --check`.
Settled Settle(shm_cache::ShmCache& cache, const Master& master, const std::string& shmdump);

struct Percentiles {
  double p50 = 0, p99 = 0, max = 0;
};
Percentiles ComputePercentiles(std::vector<double> values);

}  // namespace fc::chaos
