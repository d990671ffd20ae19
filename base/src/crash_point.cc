// Named crash points; see crash_point.h.
#include "fc/base/crash_point.h"

#include <signal.h>

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace fc::crash {
namespace {
const char* const kNames[] = {"none",      "after_lock",     "mid_evict",    "mid_insert",
                              "after_pin", "mid_load",       "before_publish", "before_unpin",
                              "mid_send",  nullptr};
std::atomic<long> remaining{0};
int action_signal = SIGKILL;  // 0: FC_CRASH_ACTION=error
thread_local bool injected_error = false;
}  // namespace

namespace internal {
int armed_point = 0;

void Reached(Point point) {
  if (remaining.fetch_sub(1) != 1) return;
  __atomic_store_n(&armed_point, 0, __ATOMIC_RELAXED);
  (void)point;
  if (action_signal == 0) {
    injected_error = true;
    return;
  }
  ::raise(action_signal);
}
}  // namespace internal

const char* const* PointNames() { return kNames + 1; }

bool ArmFromEnvironment(std::string* error) {
  const char* spec = std::getenv("FC_CRASH_AT");
  if (spec == nullptr || *spec == '\0') return true;
  std::string text(spec);
  long nth = 1;
  const size_t colon = text.find(':');
  if (colon != std::string::npos) {
    nth = std::strtol(text.c_str() + colon + 1, nullptr, 10);
    text.resize(colon);
  }
  const char* action = std::getenv("FC_CRASH_ACTION");
  action_signal = action != nullptr && std::strcmp(action, "stop") == 0    ? SIGSTOP
                  : action != nullptr && std::strcmp(action, "error") == 0 ? 0
                                                                            : SIGKILL;
  for (int i = 1; kNames[i] != nullptr; ++i) {
    if (text == kNames[i] && nth >= 1) {
      remaining.store(nth);
      __atomic_store_n(&internal::armed_point, i, __ATOMIC_RELAXED);
      return true;
    }
  }
  *error = "FC_CRASH_AT=\"" + std::string(spec) + "\" names no crash point (or a bad count)";
  return false;
}

bool TakeInjectedError() {
  const bool was = injected_error;
  injected_error = false;
  return was;
}

void Disarm() { __atomic_store_n(&internal::armed_point, 0, __ATOMIC_RELAXED); }

}  // namespace fc::crash
