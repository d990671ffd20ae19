// fc-chaos: kill -9 workers at random while clients fetch and verify files.
//
// It starts its own fc-master on 127.0.0.1 (port 0) over a directory of
// generated files — cacheable, near the cache's capacity, and too large for it —
// runs K client threads that fetch random files through the fc-client library
// (which resumes cut transfers) and compare every result with the file's true
// checksum, and meanwhile SIGKILLs a random worker every 50–500 ms. Everything is
// bounded in time and count and stays on loopback. At the end it checks that no
// pin leaked and that `fc-shmdump --check` passes, and prints the figures.
// Exit status: 0 when every promise held, 1 otherwise, 2 on usage errors.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include <boost/program_options.hpp>

#include "fc/base/clock.h"
#include "fc/client/client.h"
#include "fc/base/cli.h"
#include "fc/base/checksum.h"
#include "fc/base/net.h"
#include "fc/shm_cache/cache.h"
#include "chaos_support.h"

namespace po = boost::program_options;
using namespace fc::chaos;

namespace {

struct Options {
  double duration_s = 20;
  int clients = 8;
  int workers = 4;
  std::string cache_size = "16M";
  int kill_min_ms = 50;
  int kill_max_ms = 500;
  long max_requests = 1'000'000;
  long max_kills = 100'000;
  unsigned seed = 1;
  std::string bin_dir;
  std::string user = "root";  // as root: fc-master's --user ("default": none, so fc drops to nobody)
};

// Discards the bytes; Fetch hashes them and verifies the server's checksum.
// Hashes what the client delivers, in order, independently of the client's
// own verification: "wrong bytes" is decided by comparing checksums.
class HashingSink : public fc::client::Sink {
 public:
  fc::Status Write(uint64_t offset, const char* data, size_t length) override {
    if (offset != received_) in_order_ = false;
    hash_.Update(data, length);
    received_ += length;
    return fc::Status::Ok();
  }
  fc::Status Restart() override {
    hash_.Reset();
    received_ = 0;
    in_order_ = true;
    return fc::Status::Ok();
  }
  uint64_t received() const { return received_; }
  uint64_t digest() const { return hash_.Digest(); }
  bool in_order() const { return in_order_; }

 private:
  fc::Checksum64 hash_;
  uint64_t received_ = 0;
  bool in_order_ = true;
};

// xxh64 of the first `length` bytes of `path`.
uint64_t PrefixChecksum(const std::string& path, uint64_t length) {
  std::ifstream in(path, std::ios::binary);
  fc::Checksum64 hash;
  std::vector<char> buf(1 << 20);
  while (length > 0 && in) {
    in.read(buf.data(), static_cast<std::streamsize>(std::min<uint64_t>(length, buf.size())));
    const auto got = static_cast<uint64_t>(in.gcount());
    if (got == 0) break;
    hash.Update(buf.data(), got);
    length -= got;
  }
  return hash.Digest();
}

struct Tally {
  std::atomic<long> completed{0}, wrong{0}, failed{0}, kills{0};
  std::mutex mu;
  std::vector<double> recovery_ms;  // Guarded by mu
  std::vector<std::string> failures;  // Guarded by mu (first few)
};

void ClientLoop(const Options& o, const Corpus& corpus, const std::string& dir, uint16_t port, int id,
                std::atomic<bool>& stop, Tally& tally) {
  std::mt19937 rng(o.seed * 1000 + static_cast<unsigned>(id));
  fc::client::Endpoint server{"127.0.0.1", port, 10'000};
  while (!stop.load() && tally.completed.load() + tally.failed.load() < o.max_requests) {
    const CorpusFile& f = corpus.Pick(rng);
    HashingSink sink;
    auto r = fc::client::Fetch(server, f.name, sink, 8, nullptr);
    const bool all_right = sink.in_order() && sink.received() == f.size && sink.digest() == f.checksum;
    if (r.ok() && all_right) {
      ++tally.completed;
      continue;
    }
    // Wrong bytes: anything delivered that is not the file's own prefix.
    const bool wrong = !sink.in_order() ||
                       (r.ok() ? !all_right : sink.digest() != PrefixChecksum(dir + "/" + f.name, sink.received()));
    const std::string why = r.ok() ? "delivered bytes differ from the file on disk" : r.status().message();
    ++(wrong ? tally.wrong : tally.failed);
    std::lock_guard<std::mutex> lock(tally.mu);
    if (tally.failures.size() < 5) tally.failures.push_back(f.name + ": " + why);
  }
}

void KillLoop(const Options& o, Master& master, fc::shm_cache::ShmCache& cache,
              std::atomic<bool>& stop, Tally& tally) {
  std::mt19937 rng(o.seed);
  std::uniform_int_distribution<int> interval(o.kill_min_ms, o.kill_max_ms);
  // Killed already: until the master reaps one and its slot is reclaimed, the
  // slot still says serving and the pid is still a child (a zombie), so it
  // must not count as a serving worker, before a kill or after.
  std::set<pid_t> killed;
  while (!stop.load() && tally.kills.load() < o.max_kills) {
    std::this_thread::sleep_for(std::chrono::milliseconds(interval(rng)));
    if (stop.load()) break;
    for (auto it = killed.begin(); it != killed.end();) {  // reaped: the pid may come back
      it = master.IsChild(*it) ? std::next(it) : killed.erase(it);
    }
    auto workers = cache.PeekWorkers();
    std::vector<fc::shm_cache::WorkerInfo> serving;
    for (const auto& w : workers) {
      if (w.serving && master.IsChild(w.pid) && killed.count(w.pid) == 0) serving.push_back(w);
    }
    if (serving.empty()) continue;
    const auto victim = serving[rng() % serving.size()];
    const int64_t t0 = fc::MonotonicNowNs();
    if (::kill(victim.pid, SIGKILL) != 0) continue;
    killed.insert(victim.pid);
    ++tally.kills;
    // Recovery: as many of the master's workers serving as before the kill,
    // the victim not among them. The replacement takes a free slot (the
    // victim's is reclaimed meanwhile), so any slot counts.
    for (;;) {
      size_t back = 0;
      for (const auto& w : cache.PeekWorkers()) {
        back += w.serving && w.pid > 0 && killed.count(w.pid) == 0 && master.IsChild(w.pid);
      }
      if (back >= serving.size()) break;
      if (fc::MonotonicNowNs() - t0 > 10'000'000'000LL) {
        std::fprintf(stderr, "fc-chaos: %zu of %zu workers serving 10 s after killing pid %d\n", back,
                     serving.size(), static_cast<int>(victim.pid));
        break;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    std::lock_guard<std::mutex> lock(tally.mu);
    tally.recovery_ms.push_back(static_cast<double>(fc::MonotonicNowNs() - t0) / 1e6);
  }
}

int ParseOptions(int argc, char** argv, Options* o) {
  bool long_mode = false;
  po::options_description opts(
      "Usage: fc-chaos [--short | --long] [options]\n\n"
      "Runs fc-master on loopback and SIGKILLs random workers every 50-500 ms while\n"
      "K clients fetch and verify files; prints requests, wrong bytes, failures,\n"
      "kills, recovery time (p50/p99), leaked pins and generation swaps.\n"
      "--short (default): 20 s, 16M cache. --long: 330 s (over 1,000 kills), 64M cache.\n\n"
      "Options");
  opts.add_options()("help,h", "print this help and exit")
      ("short", "the test-suite run (default)")
      ("long", po::bool_switch(&long_mode), "the long run")
      ("duration", po::value(&o->duration_s)->value_name("SEC"), "how long to inject kills")
      ("clients", po::value(&o->clients)->value_name("K"), "concurrent clients (default 8)")
      ("workers", po::value(&o->workers)->value_name("N"), "worker processes (default 4)")
      ("cache-size", po::value(&o->cache_size)->value_name("SIZE"), "segment size")
      ("max-requests", po::value(&o->max_requests)->value_name("N"), "stop after N requests")
      ("max-kills", po::value(&o->max_kills)->value_name("N"), "stop killing after N kills")
      ("seed", po::value(&o->seed)->value_name("N"), "random seed (default 1)")
      ("user", po::value(&o->user)->value_name("NAME"),
       "run as root: the user fc-master runs as, root (default) or default (no --user: fc's "
       "own default, nobody; the scratch tree is then readable by all)")
      ("bin-dir", po::value(&o->bin_dir)->value_name("DIR"),
       "where fc-master and fc-shmdump are (default: next to fc-chaos)");
  po::variables_map vm;
  if (int rc = fc::cli::Parse("fc-chaos", argc, argv, opts, opts, nullptr, &vm); rc >= 0) return rc;
  if (long_mode) {
    if (!vm.count("duration")) o->duration_s = 330;
    if (!vm.count("cache-size")) o->cache_size = "64M";
  }
  if (o->duration_s <= 0 || o->duration_s > 3600 || o->clients < 1 || o->clients > 256 ||
      o->workers < 1 || o->workers > 64) {
    std::fprintf(stderr, "fc-chaos: duration must be 0-3600 s, clients 1-256, workers 1-64\n");
    return 2;
  }
  if (o->bin_dir.empty()) o->bin_dir = SelfDirectory();
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (int rc = ParseOptions(argc, argv, &o); rc >= 0) return rc;
  auto cache_bytes = fc::net::ParseByteSize(o.cache_size, "--cache-size");
  if (!cache_bytes.ok()) {
    std::fprintf(stderr, "fc-chaos: %s\n", cache_bytes.status().message().c_str());
    return 2;
  }
  ScratchDir dir;
  Corpus corpus = Corpus::Generate(dir.path(), cache_bytes.value(), o.seed);
  if (::geteuid() == 0 && o.user != "root") dir.OpenToAll();
  Master master(o.bin_dir + "/fc-master", dir.path(), o.workers, o.cache_size, o.user);
  if (!master.Start()) return 1;
  // The segment belongs to the user fc runs as: map it as that user.
  auto cache = master.OpenSegment();
  if (!cache.ok()) {
    std::fprintf(stderr, "fc-chaos: %s\n", cache.status().message().c_str());
    return 1;
  }
  std::printf("fc-chaos: %.0f s of kills, %d clients, %d workers, cache %s, user %s, %zu files "
              "(largest %.1f MB, cache data capacity %.1f MB)\n",
              o.duration_s, o.clients, o.workers, o.cache_size.c_str(),
              ::geteuid() != 0 ? "(not root)" : o.user == "default" ? "default (nobody)" : o.user.c_str(),
              corpus.files().size(),
              corpus.largest() / 1e6, cache.value()->data_capacity() / 1e6);
  std::fflush(stdout);

  Tally tally;
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  const int64_t start = fc::MonotonicNowNs();
  for (int i = 0; i < o.clients; ++i) {
    threads.emplace_back([&, i] { ClientLoop(o, corpus, dir.path(), master.port(), i, stop, tally); });
  }
  std::thread killer([&] { KillLoop(o, master, *cache.value(), stop, tally); });
  while (fc::MonotonicNowNs() - start < static_cast<int64_t>(o.duration_s * 1e9) &&
         tally.completed.load() + tally.failed.load() < o.max_requests) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  stop = true;
  killer.join();
  for (auto& t : threads) t.join();
  const double elapsed = static_cast<double>(fc::MonotonicNowNs() - start) / 1e9;

  const Settled settled = Settle(*cache.value(), master, o.bin_dir + "/fc-shmdump");
  master.Stop();
  const std::string sanitizer = master.SanitizerReport();
  const Percentiles p = ComputePercentiles(tally.recovery_ms);
  std::printf("duration                 %.1f s\n", elapsed);
  std::printf("requests completed       %ld\n", tally.completed.load());
  std::printf("wrong bytes              %ld\n", tally.wrong.load());
  std::printf("client-visible failures  %ld\n", tally.failed.load());
  std::printf("kills                    %ld\n", tally.kills.load());
  std::printf("recovery p50 / p99 / max %.1f / %.1f / %.1f ms (kill -> replacement serving)\n",
              p.p50, p.p99, p.max);
  std::printf("pins leaked              %llu\n", static_cast<unsigned long long>(settled.leaked_pins));
  std::printf("generation swaps         %llu\n",
              static_cast<unsigned long long>(settled.generation - 1));
  std::printf("lock-holder repairs      %llu\n", static_cast<unsigned long long>(settled.repairs));
  std::printf("fc-shmdump --check       %s\n", settled.check_passed ? "passed" : "FAILED");
  for (const auto& f : tally.failures) std::printf("  failure: %s\n", f.c_str());
  if (!settled.check_output.empty() && !settled.check_passed) {
    std::printf("%s", settled.check_output.c_str());
  }
  if (!sanitizer.empty()) std::printf("sanitizer report in the server log:\n%s\n", sanitizer.c_str());
  const bool ok = sanitizer.empty() && tally.wrong.load() == 0 && tally.failed.load() == 0 &&
                  settled.leaked_pins == 0 && settled.check_passed && tally.completed.load() > 0;
  std::printf("%s\n", ok ? "chaos: all promises held" : "chaos: FAILED");
  return ok ? 0 : 1;
}
