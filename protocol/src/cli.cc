// Shared command-line parsing; see cli.h.
#include "fc/protocol/cli.h"

#include <cstdio>
#include <sstream>

namespace po = boost::program_options;

namespace fc::cli {

int UsageError(const char* program, const std::string& message) {
  std::fprintf(stderr, "%s: %s\nTry '%s --help'.\n", program, message.c_str(), program);
  return 2;
}

int Parse(const char* program, int argc, char** argv, const po::options_description& help,
          const po::options_description& options,
          const po::positional_options_description* positional, po::variables_map* vm,
          const char* epilogue) {
  try {
    po::command_line_parser parser(argc, argv);
    parser.options(options);
    if (positional != nullptr) parser.positional(*positional);
    po::store(parser.run(), *vm);
    po::notify(*vm);
  } catch (const po::error& e) {
    return UsageError(program, e.what());
  }
  if (vm->count("help")) {
    std::ostringstream out;
    out << help << epilogue;
    std::fputs(out.str().c_str(), stdout);
    return 0;
  }
  return -1;
}

}  // namespace fc::cli
