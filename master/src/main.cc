// fc-master: parse the command line, then run the supervisor.
#include "fc/master/master.h"

int main(int argc, char** argv) {
  fc::master::MasterConfig config;
  bool run = false;
  const int code = fc::master::ParseCommandLine(argc, argv, &config, &run);
  if (!run) return code;
  return fc::master::RunMaster(std::move(config));
}
