// fc-master: parse the command line, then run the supervisor.
#include <signal.h>

#include "fc/master/master.h"

int main(int argc, char** argv) {
  // Stop signals wait from the first step (RunMaster reads them from its
  // signalfd): a SIGTERM while the segment is made is a clean stop. Before
  // this line nothing has been created, so the default disposition loses
  // nothing.
  sigset_t signals;
  sigemptyset(&signals);
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2}) sigaddset(&signals, sig);
  sigprocmask(SIG_BLOCK, &signals, nullptr);
  fc::master::MasterConfig config;
  bool run = false;
  const int code = fc::master::ParseCommandLine(argc, argv, &config, &run);
  if (!run) return code;
  return fc::master::RunMaster(std::move(config));
}
