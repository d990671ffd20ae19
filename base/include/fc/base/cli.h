// The command-line step every fc program shares: parse with
// Boost.Program_options, turn option errors into a usage message and exit
// code 2, and answer --help on stdout with exit code 0.
#pragma once

#include <boost/program_options.hpp>
#include <string>

#include "fc/base/status.h"

namespace fc::cli {

// Parses argv against `options` (plus `positional`, if given). Returns -1 when
// the program should go on, or the exit code to return now (0 after --help,
// 2 after a usage error, both already printed). --help prints `help` and then
// `epilogue`; `program` names the program in error messages.
int Parse(const char* program, int argc, char** argv,
          const boost::program_options::options_description& help,
          const boost::program_options::options_description& options,
          const boost::program_options::positional_options_description* positional,
          boost::program_options::variables_map* vm, const char* epilogue = "");

// A usage error: prints "PROGRAM: MESSAGE" and a hint, returns 2.
int UsageError(const char* program, const std::string& message);

// Reads `key = value` lines (Boost.Program_options' config-file syntax: the
// long option names, '#' comments) from `path` into *vm; values already in *vm
// (the command line's) win. An unknown key, a line without '=', or a value
// Boost refuses is an error naming the file and, where it can, the line.
Status ParseConfigFile(const std::string& path,
                       const boost::program_options::options_description& options,
                       boost::program_options::variables_map* vm);

}  // namespace fc::cli
