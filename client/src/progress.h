// Internal header: a one-line progress bar for transfers over 1 MB, drawn on
// stdout only when it is a terminal, redrawn at most ten times a second.
#pragma once

#include <cstdint>
#include <string>

namespace fc::client {

class ProgressBar {
 public:
  ProgressBar(std::string label, bool enabled);
  void Update(uint64_t done, uint64_t total);
  void Finish();  // ends the line if anything was drawn

 private:
  std::string label_;
  bool enabled_;
  bool drawn_ = false;
  int64_t start_ns_;
  int64_t last_draw_ns_ = 0;
};

}  // namespace fc::client
