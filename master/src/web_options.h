// Internal header: fc-master's options for what a browser sees (docs/web.md):
// index files, directory listings, precompressed variants, compressed copies. Kept apart from
// options.cc so that a web feature's flag, check and help text sit together.
#pragma once

#include <string>

#include <boost/program_options/options_description.hpp>

#include "fc/base/status.h"
#include "fc/worker/worker.h"

namespace fc::master {

// The options as typed, before their check; defaults from WorkerConfig's.
struct WebRaw {
  std::string index, autoindex, dotfiles, precompressed, compress;
  uint64_t compress_min_size = 0;
};

// Adds --index, --autoindex, --dotfiles, --precompressed, --compress and --compress-min-size to `options`, reading into *raw.
void AddWebOptions(const worker::WorkerConfig& defaults, WebRaw* raw,
                   boost::program_options::options_description* options);
// Checks the values and stores them in *config.
Status CheckWebOptions(const WebRaw& raw, worker::WorkerConfig* config);

}  // namespace fc::master
