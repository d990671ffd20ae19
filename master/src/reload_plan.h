// Internal header: what a reload (SIGHUP) runs, decided apart from doing it.
// PlanReload compares the configuration read again with the running one and
// returns the configuration the reload will run, with one line for each
// change it cannot make (what lives in the segment or the sockets needs a
// restart: those options keep their running values). It touches nothing; the
// supervisor applies the plan (supervisor.cc, Reload).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "fc/master/master.h"

namespace fc::master {

// An option a reload cannot change: it shapes the segment, the sockets, the
// lock directory or the privileges. Every other option changes on SIGHUP.
// `changed`: whether `next` changes it against the running (parsed) `was`;
// `running`: its running value as the log line gives it.
struct RestartOnlyOption {
  const char* name;  // "--port"
  bool (*changed)(const MasterConfig& was, const MasterConfig& next);
  std::string (*running)(const MasterConfig& was, const worker::WorkerHandOff& made);
};
// The one list of them: PlanReload keeps these, --help names them.
const std::vector<RestartOnlyOption>& RestartOnlyOptions();

struct ReloadPlan {
  MasterConfig config;             // what runs after the reload
  std::vector<std::string> kept;   // "--port needs a restart; keeping 9000", one per option
};

// `running_parsed`: the running configuration as parsed (before its defaults
// were resolved), what a change is judged against; `running`: as it runs;
// `made`: what start-up made (segment name, lock directory); `next`: as just parsed;
// `resolved_root`: next's --root, resolved (realpath) by the caller;
// `slots`: the segment's worker slots (a reload needs two per worker).
ReloadPlan PlanReload(const MasterConfig& running_parsed, const MasterConfig& running,
                      const worker::WorkerHandOff& made, const MasterConfig& next, const std::string& resolved_root,
                      uint32_t slots);

}  // namespace fc::master
