// Terminal progress bar; see progress.h.
#include "fc/base/clock.h"
#include "progress.h"

#include <time.h>

#include <cstdio>

namespace fc::client {
namespace {
constexpr uint64_t kMinSize = 1'000'000;
}  // namespace

ProgressBar::ProgressBar(std::string label, bool enabled)
    : label_(std::move(label)), enabled_(enabled), start_ns_(MonotonicNowNs()) {
  if (label_.size() > 30) label_ = "..." + label_.substr(label_.size() - 27);
}

void ProgressBar::Update(uint64_t done, uint64_t total) {
  if (!enabled_ || total <= kMinSize) return;
  const int64_t now = MonotonicNowNs();
  if (done < total && now - last_draw_ns_ < 100'000'000) return;
  last_draw_ns_ = now;
  const int width = 30;
  const int filled = static_cast<int>(width * done / total);
  const double seconds = static_cast<double>(now - start_ns_) / 1e9;
  const double rate = seconds > 0 ? static_cast<double>(done) / 1e6 / seconds : 0;
  std::printf("\r%-30s [%.*s%*s] %3d%% %8.1f MB/s", label_.c_str(), filled,
              "##############################", width - filled, "",
              static_cast<int>(100 * done / total), rate);
  std::fflush(stdout);
  drawn_ = true;
}

void ProgressBar::Finish() {
  if (drawn_) std::printf("\n");
  drawn_ = false;
}

}  // namespace fc::client
