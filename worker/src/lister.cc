// Directory listings off the event loops; see lister.h.
#include "lister.h"

#include <malloc.h>

namespace fc::worker {

Lister::Lister(const FileSource& files) : files_(files) {
  thread_ = std::thread([this] { Run(); });
}

Lister::~Lister() {
  {
    MutexLock lock(&mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

bool Lister::Submit(ListingJob job) {
  {
    MutexLock lock(&mu_);
    if (pending_ >= kMaxPending) return false;
    ++pending_;
    queue_.push_back(std::move(job));
  }
  cv_.notify_one();
  return true;
}

void Lister::Run() {
  for (;;) {
    ListingJob job;
    {
      MutexLock lock(&mu_);
      while (!stopping_ && queue_.empty()) cv_.wait(mu_);
      if (stopping_) return;
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    LoadResult result;
    {
      ListingPage page;
      result.refusal = ListDirectory(files_, job.dir, job.query, &page);
      if (result.refusal.ok()) {
        result.kind = LoadResult::Kind::kListed;
        result.body = job.json ? RenderListingJson(page) : RenderListingHtml(page);
      }
    }
    // The scan's names and stats are freed: give the pages back, not only to
    // this thread's arena (a 100,000-name listing uses some 20 MB).
    ::malloc_trim(0);
    {
      MutexLock lock(&mu_);
      --pending_;
    }
    job.done(std::move(result));
  }
}

}  // namespace fc::worker
