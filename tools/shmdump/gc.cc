// Leftovers of dead masters; see gc.h.
#include "gc.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <string>
#include <vector>

#include "fc/base/private_dir.h"
#include "fc/base/process_start.h"
#include "fc/shm_cache/cache.h"

namespace fc::shmdump {
int CollectGarbage(bool remove) {
  std::vector<std::string> names;
  if (DIR* d = ::opendir("/dev/shm")) {
    while (dirent* e = ::readdir(d)) {
      struct stat st;
      const std::string name = e->d_name;
      if (name[0] == '.' || ::fstatat(dirfd(d), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
      if (S_ISREG(st.st_mode) && st.st_uid == ::geteuid()) names.push_back(name);
    }
    ::closedir(d);
  }
  int status = 0, dead = 0, live = 0;
  for (const std::string& name : names) {
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
