// fc-chaos support: corpus, master process, settling, percentiles.
#include "fc/base/status.h"
#include "fc/base/clock.h"
#include "chaos_support.h"

#include <dirent.h>
#include <pwd.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <thread>

#include "fc/base/checksum.h"
#include "fc/base/temp_dir.h"

extern char** environ;

namespace fc::chaos {

std::string SelfDirectory() {
  char buf[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return ".";
  std::string path(buf, static_cast<size_t>(n));
  return path.substr(0, path.find_last_of('/'));
}

ScratchDir::ScratchDir() {
  std::string tmpl = fc::TempDirectory() + "/fc-chaos-XXXXXX";
  path_ = ::mkdtemp(tmpl.data()) ? tmpl : fc::TempDirectory();
}

void ScratchDir::OpenToAll() const {
  ::chmod(path_.c_str(), 0755);
  if (DIR* d = ::opendir(path_.c_str())) {
    while (dirent* e = ::readdir(d)) {
      if (e->d_name[0] != '.') ::chmod((path_ + "/" + e->d_name).c_str(), 0644);
    }
    ::closedir(d);
  }
}

ScratchDir::~ScratchDir() {
  if (DIR* d = ::opendir(path_.c_str())) {
    while (dirent* e = ::readdir(d)) {
      const std::string name = e->d_name;
      if (name != "." && name != "..") ::unlink((path_ + "/" + name).c_str());  // .master.log too
    }
    ::closedir(d);
  }
  ::rmdir(path_.c_str());
}

namespace {

CorpusFile WriteCorpusFile(const std::string& dir, const std::string& name, uint64_t size,
                           double weight, std::mt19937_64& rng) {
  CorpusFile f{name, size, 0, weight};
  std::FILE* out = std::fopen((dir + "/" + name).c_str(), "wb");
  Checksum64 hash;
  std::vector<uint64_t> block(16384);
  for (uint64_t left = size; left > 0;) {
    for (auto& w : block) w = rng();
    const size_t n = static_cast<size_t>(std::min<uint64_t>(left, block.size() * 8));
    std::fwrite(block.data(), 1, n, out);
    hash.Update(block.data(), n);
    left -= n;
  }
  std::fclose(out);
  f.checksum = hash.Digest();
  return f;
}

}  // namespace

Corpus Corpus::Generate(const std::string& dir, uint64_t cache_bytes, unsigned seed) {
  Corpus c;
  std::mt19937_64 rng(seed);
  std::lognormal_distribution<double> small(std::log(16384.0), 1.5);
  for (int i = 0; i < 40; ++i) {
    const uint64_t size = std::clamp<uint64_t>(static_cast<uint64_t>(small(rng)), 1, 2'000'000);
    c.files_.push_back(WriteCorpusFile(dir, "small-" + std::to_string(i), size, 85.0 / 40, rng));
  }
  for (int i = 0; i < 4; ++i) {
    c.files_.push_back(WriteCorpusFile(dir, "medium-" + std::to_string(i),
                                       cache_bytes / 16 + i * cache_bytes / 32, 9.0 / 4, rng));
  }
  // Near capacity: 85 % and 90 % of the segment (whose data pool is ~96 % of it).
  c.files_.push_back(WriteCorpusFile(dir, "near-85", cache_bytes * 85 / 100, 2, rng));
  c.files_.push_back(WriteCorpusFile(dir, "near-90", cache_bytes * 90 / 100, 2, rng));
  c.files_.push_back(WriteCorpusFile(dir, "too-large", cache_bytes * 105 / 100, 2, rng));
  double total = 0;
  for (const auto& f : c.files_) c.cumulative_.push_back(total += f.weight);
  return c;
}

const CorpusFile& Corpus::Pick(std::mt19937& rng) const {
  std::uniform_real_distribution<double> u(0, cumulative_.back());
  const double x = u(rng);
  const size_t i = static_cast<size_t>(
      std::upper_bound(cumulative_.begin(), cumulative_.end(), x) - cumulative_.begin());
  return files_[std::min(i, files_.size() - 1)];
}

uint64_t Corpus::largest() const {
  uint64_t m = 0;
  for (const auto& f : files_) m = std::max(m, f.size);
  return m;
}

Master::Master(std::string binary, std::string root, int workers, std::string cache_size, std::string user)
    : binary_(std::move(binary)), root_(std::move(root)), cache_size_(std::move(cache_size)),
      user_(std::move(user)), log_path_(root_ + "/.master.log"), workers_(workers) {}

namespace {
uid_t SegmentOwner(const std::string& name) {
  struct stat st;
  return ::stat(("/dev/shm/" + name).c_str(), &st) == 0 ? st.st_uid : ::geteuid();
}
}  // namespace

fc::Result<std::unique_ptr<fc::shm_cache::ShmCache>> Master::OpenSegment() const {
  const uid_t owner = SegmentOwner(shm_name()), me = ::geteuid();
  if (owner != me && ::seteuid(owner) != 0) return fc::Status::FromErrno(errno, "seteuid", shm_name());
  auto cache = fc::shm_cache::ShmCache::Open(shm_name());
  if (owner != me && ::seteuid(me) != 0) std::abort();
  return cache;
}

std::string Master::AsOwner() const {
  const uid_t owner = SegmentOwner(shm_name());
  if (owner == ::geteuid()) return "";
  const passwd* pw = ::getpwuid(owner);
  const gid_t gid = pw != nullptr ? pw->pw_gid : owner;
  return "setpriv --reuid=" + std::to_string(owner) + " --regid=" + std::to_string(gid) + " --clear-groups ";
}

Master::~Master() { Stop(); }

bool Master::Start() {
  std::vector<std::string> args = {binary_, "--root", root_, "--port", "0", "--workers",
                                   std::to_string(workers_), "--cache-size", cache_size_,
                                   "--quiet", "--shutdown-timeout", "5"};
  if (::geteuid() == 0 && user_ != "default") {  // "root": its scratch tree is private to root
    args.push_back("--user");
    args.push_back(user_);
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return false;
  const int log = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, log, 2);
  const int rc = ::posix_spawn(&pid_, binary_.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(out[1]);
  ::close(log);
  if (rc != 0) {
    std::fprintf(stderr, "fc-chaos: cannot start %s: %s\n", binary_.c_str(), ErrnoText(rc).c_str());
    pid_ = -1;
    ::close(out[0]);
    return false;
  }
  std::string line;
  pollfd pfd{out[0], POLLIN, 0};
  const int64_t deadline = MonotonicNowNs() + 10'000'000'000LL;
  while (line.find('\n') == std::string::npos && MonotonicNowNs() < deadline) {
    if (::poll(&pfd, 1, 100) <= 0) continue;
    char buf[128];
    const ssize_t n = ::read(out[0], buf, sizeof(buf));
    if (n <= 0) break;
    line.append(buf, static_cast<size_t>(n));
  }
  ::close(out[0]);
  const size_t colon = line.rfind(':');
  if (line.rfind("listening on ", 0) != 0 || colon == std::string::npos) {
    std::ifstream in(log_path_);
    std::fprintf(stderr, "fc-chaos: fc-master did not start:\n%s\n",
                 std::string(std::istreambuf_iterator<char>(in), {}).c_str());
    Stop();
    return false;
  }
  port_ = static_cast<uint16_t>(std::atoi(line.c_str() + colon + 1));
  return true;
}

void Master::Stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  for (int i = 0; i < 1000; ++i) {
    if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    ::usleep(10'000);
  }
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

std::string Master::SanitizerReport() const {
  std::ifstream in(log_path_);
  const std::string log((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (const char* marker : {"Sanitizer", "runtime error:"}) {
    const size_t at = log.find(marker);
    if (at != std::string::npos) return log.substr(at > 500 ? at - 500 : 0, 3000);
  }
  return "";
}

bool Master::IsChild(pid_t pid) const {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  std::getline(stat, text);
  const size_t paren = text.rfind(')');
  if (paren == std::string::npos) return false;
  char state;
  int ppid = 0;
  return std::sscanf(text.c_str() + paren + 1, " %c %d", &state, &ppid) == 2 && ppid == pid_;
}

Settled Settle(shm_cache::ShmCache& cache, const Master& master, const std::string& shmdump) {
  Settled s;
  for (int i = 0; i < 500; ++i) {  // every slot serving again (at most 5 s)
    bool all = true;
    for (const auto& w : cache.PeekWorkers()) all = all && w.serving && master.IsChild(w.pid);
    if (all) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // in-flight unpins land
  const auto snap = cache.TakeSnapshot(2000);
  for (const auto& e : snap.entries) s.leaked_pins += e.readers;
  for (const auto& w : snap.workers) {
    if (!w.alive) s.leaked_pins += w.pins;
  }
  s.generation = snap.generation;
  s.repairs = snap.repairs;
  const std::string cmd = master.AsOwner() + shmdump + " --check --shm-name " + master.shm_name() + " 2>&1";
  if (std::FILE* p = ::popen(cmd.c_str(), "r")) {
    char buf[512];
    while (std::fgets(buf, sizeof(buf), p)) s.check_output += buf;
    s.check_passed = ::pclose(p) == 0;
  }
  return s;
}

Percentiles ComputePercentiles(std::vector<double> v) {
  Percentiles p;
  if (v.empty()) return p;
  std::sort(v.begin(), v.end());
  const auto at = [&](double q) {
    return v[std::min(v.size() - 1, static_cast<size_t>(std::ceil(q * v.size())) - 1)];
  };
  p.p50 = at(0.50);
  p.p99 = at(0.99);
  p.max = v.back();
  return p;
}

}  // namespace fc::chaos
