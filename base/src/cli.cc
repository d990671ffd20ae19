// Shared command-line parsing; see cli.h.
#include "fc/base/cli.h"

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string_view>

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

namespace {

std::string_view TrimSpace(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

}  // namespace

Status ParseConfigFile(const std::string& path, const po::options_description& options,
                       po::variables_map* vm) {
  std::ifstream in(path);
  if (!in) return Status::FromErrno(errno, "open", "config file \"" + path + "\"");
  // Boost.Program_options names neither the line nor, for some errors, the
  // file: check each line here first, then let Boost store the values.
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    std::string_view text = TrimSpace(line);
    if (const size_t hash = text.find('#'); hash != std::string_view::npos) {
      text = TrimSpace(text.substr(0, hash));
    }
    if (text.empty()) continue;
    const std::string where = path + ":" + std::to_string(number) + ": ";
    if (text.front() == '[') return Status::Error(where + "sections are not used; write key = value");
    const size_t eq = text.find('=');
    if (eq == std::string_view::npos) {
      return Status::Error(where + "expected key = value, got \"" + std::string(text) + "\"");
    }
    const std::string key(TrimSpace(text.substr(0, eq)));
    const po::option_description* known = options.find_nothrow(key, /*approx=*/false);
    if (known == nullptr || key == "help" || key == "config") {
      return Status::Error(where + "unknown key \"" + key + "\"");
    }
    if (TrimSpace(text.substr(eq + 1)).empty()) {
      return Status::Error(where + "\"" + key + "\" has no value");
    }
  }
  if (in.bad()) return Status::FromErrno(errno, "read", "config file \"" + path + "\"");
  in.clear();
  in.seekg(0);
  try {
    po::store(po::parse_config_file(in, options, /*allow_unregistered=*/false), *vm);
    po::notify(*vm);
  } catch (const po::error& e) {
    return Status::Error("config file \"" + path + "\": " + e.what());
  }
  return Status::Ok();
}

}  // namespace fc::cli
