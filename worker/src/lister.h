// Internal header: Lister, the worker's thread for directory listings
// (--autoindex). A listing of a large directory reads, stats and sorts up to
// 100,000 names (tens to hundreds of milliseconds): done on a loop it would
// hold every connection of that loop, so the loop hands it here and waits
// for the page, as it waits for a loader. One thread per worker, apart from
// the loaders, so listings never delay a load; at most kMaxPending listings
// wait or run per worker (more are answered 503 by the caller), and a
// connection has at most one (it waits for its page before its next request).
// After each listing the thread returns its scratch memory to the system
// (malloc_trim), so a burst of listings does not leave the worker large.
// Thread-safe.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <string>
#include <thread>

#include "directory_listing.h"
#include "fc/base/mutex.h"
#include "file_source.h"
#include "loader.h"

namespace fc::worker {

struct ListingJob {
  std::string dir;  // canonical, "" for the root
  ListingQuery query;
  bool json = false;
  // Called on the lister thread with kListed (the rendered page in `body`)
  // or kError (the refusal).
  std::function<void(LoadResult)> done;
};

class Lister {
 public:
  static constexpr size_t kMaxPending = 8;

  explicit Lister(const FileSource& files);
  ~Lister();  // stops and joins; listings not started are dropped
  Lister(const Lister&) = delete;
  Lister& operator=(const Lister&) = delete;

  // Queues `job`; false (and `job` dropped) when kMaxPending are pending.
  bool Submit(ListingJob job);

 private:
  void Run();

  const FileSource& files_;
  Mutex mu_;
  std::condition_variable_any cv_;
  std::deque<ListingJob> queue_ FC_GUARDED_BY(mu_);
  size_t pending_ FC_GUARDED_BY(mu_) = 0;  // queued or running
  bool stopping_ FC_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace fc::worker
