// Leftovers of dead masters; see gc.h.
#include "gc.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "fc/base/private_dir.h"
#include "fc/base/process_start.h"
#include "fc/shm_cache/cache.h"

namespace fc::shmdump {
namespace {

// Root looks at another user's segment as that user (a master started as
// root runs as --user, so its segment and lock directory are that user's):
// it then reads, and removes, only what that user could, and follows no
// plant of theirs to a file of root's.
class ActAs {
 public:
  explicit ActAs(uid_t uid) : was_(::geteuid()) {
    if (uid != was_) ok_ = ::seteuid(uid) == 0;
  }
  ~ActAs() {
    if (::geteuid() != was_ && ::seteuid(was_) != 0) std::abort();
  }
  bool ok() const { return ok_; }

 private:
  uid_t was_;
  bool ok_ = true;
};

struct Candidate {
  std::string name;
  uid_t uid;
};

}  // namespace

int CollectGarbage(bool remove, const std::string& only) {
  std::vector<Candidate> candidates;
  const bool root = ::geteuid() == 0;
  if (DIR* d = ::opendir("/dev/shm")) {
    while (dirent* e = ::readdir(d)) {
      struct stat st;
      const std::string name = e->d_name;
      if (name[0] == '.' || (!only.empty() && name != only) ||
          ::fstatat(dirfd(d), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        continue;
      }
      if (S_ISREG(st.st_mode) && (root || st.st_uid == ::geteuid())) candidates.push_back({name, st.st_uid});
    }
    ::closedir(d);
  }
  int status = 0, dead = 0, live = 0;
  for (const Candidate& candidate : candidates) {
    const std::string& name = candidate.name;
    ActAs owner(candidate.uid);
    if (!owner.ok()) {
      std::fprintf(stderr, "fc-shmdump: cannot act as uid %u to look at /dev/shm/%s\n", candidate.uid,
                   name.c_str());
      status = 1;
      continue;
    }
    auto creator = shm_cache::ShmCache::CreatorOf(name);
    if (!creator.ok()) continue;  // not an fc segment (or not this version's)
    const shm_cache::SegmentCreator& c = creator.value();
    if (SameProcessAlive(c.pid, c.start)) {
      ++live;
      continue;
    }
    ++dead;
    std::printf("%s /dev/shm/%s (master pid %d is gone)%s%s\n", remove ? "removing" : "dead",
                name.c_str(), c.pid, c.lock_dir.empty() ? "" : " and lock directory ",
                c.lock_dir.c_str());
    if (!remove) continue;
    if (!shm_cache::ShmCache::Remove(name).ok()) {
      std::fprintf(stderr, "fc-shmdump: cannot remove /dev/shm/%s\n", name.c_str());
      status = 1;
    }
    if (!c.lock_dir.empty() && !RemoveLockFiles(c.lock_dir, /*and_directory=*/true)) {
      std::fprintf(stderr, "fc-shmdump: cannot remove lock directory %s\n", c.lock_dir.c_str());
      status = 1;
    }
  }
  std::printf("%d segment%s of dead masters%s, %d of live ones left alone\n", dead, dead == 1 ? "" : "s",
              remove ? " removed" : " (--remove deletes them)", live);
  return status;
}

}  // namespace fc::shmdump
