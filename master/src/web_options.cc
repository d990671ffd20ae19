// fc-master's web options; see web_options.h.
#include "web_options.h"

#include <boost/program_options.hpp>

namespace po = boost::program_options;

namespace fc::master {
namespace {

std::string Join(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ",") + n;
  return out;
}

const char* AutoindexName(worker::Autoindex a) {
  switch (a) {
    case worker::Autoindex::kHtml: return "html";
    case worker::Autoindex::kJson: return "json";
    case worker::Autoindex::kOff: break;
  }
  return "off";
}

}  // namespace

void AddWebOptions(const worker::WorkerConfig& defaults, WebRaw* raw, po::options_description* options) {
  raw->index = Join(defaults.index_files);
  raw->autoindex = AutoindexName(defaults.autoindex);
  raw->dotfiles = defaults.deny_dotfiles ? "deny" : "allow";
  raw->precompressed = http::CodingListText(defaults.precompressed);
  const std::string precompressed_default = raw->precompressed.empty() ? "off" : raw->precompressed;
  raw->compress = http::CodingListText(defaults.compress);
  const std::string compress_default = raw->compress.empty() ? "off" : raw->compress;
  raw->compress_min_size = defaults.compress_min_size;
  options->add_options()
      ("index", po::value(&raw->index)->value_name("NAMES"),
       ("HTTP: a URL ending in / serves the first of these comma-separated names that is a "
        "file in that directory; \"\" turns index files off (default " + raw->index + ")").c_str())
      ("autoindex", po::value(&raw->autoindex)->value_name("off|html|json"),
       ("HTTP: a directory URL with no index file answers a listing of its files, as an HTML "
        "page or JSON (docs/web.md); off answers 403 (default " + raw->autoindex +
        ": a listing discloses names)").c_str())
      ("dotfiles", po::value(&raw->dotfiles)->value_name("allow|deny"),
       ("names with a component beginning with '.' (.git/config, .env): allow serves them as "
        "nginx does, deny answers 404 except under .well-known/; either way no listing and no "
        "cache page shows them (default " + raw->dotfiles + ")").c_str())
      ("precompressed", po::value(&raw->precompressed)->value_name("LIST"),
       ("HTTP: serve NAME.br, NAME.zst or NAME.gz in place of NAME to a client that accepts "
        "that encoding, trying the encodings of LIST (br,zstd,gzip in any order) by the "
        "client's q-values, then in LIST's order; a variant older than NAME is ignored; off or "
        "\"\" turns it off (default " + precompressed_default + ")").c_str())
      ("compress", po::value(&raw->compress)->value_name("LIST"),
       ("HTTP: compress a file of a compressible type (text, scripts, JSON, XML, SVG, wasm) "
        "once, when it is first asked for in an encoding of LIST (gzip,zstd,br), and serve the "
        "copy to every client that accepts it from the shared cache; a file with a "
        "precompressed variant, under --compress-min-size or over 8 MiB, or that does not "
        "shrink is served as it is; off or \"\" turns it off (default " + compress_default + ")").c_str())
      ("compress-min-size", po::value(&raw->compress_min_size)->value_name("BYTES"),
       ("HTTP: --compress leaves smaller files as they are (default " +
        std::to_string(raw->compress_min_size) + ")").c_str());
}

Status CheckWebOptions(const WebRaw& raw, worker::WorkerConfig* config) {
  std::vector<std::string> index;
  for (size_t start = 0; start < raw.index.size();) {
    size_t comma = raw.index.find(',', start);
    if (comma == std::string::npos) comma = raw.index.size();
    const std::string name = raw.index.substr(start, comma - start);
    start = comma + 1;
    if (name.empty() || name == "." || name == ".." || name.size() > 255 ||
        name.find_first_of("/\\") != std::string::npos || name.find('\0') != std::string::npos) {
      return Status::Error("--index: \"" + name + "\" is not a file name (names are separated by commas; "
                           "no '/', \".\" or \"..\")");
    }
    index.push_back(name);
  }
  worker::Autoindex autoindex;
  if (raw.autoindex == "off") {
    autoindex = worker::Autoindex::kOff;
  } else if (raw.autoindex == "html") {
    autoindex = worker::Autoindex::kHtml;
  } else if (raw.autoindex == "json") {
    autoindex = worker::Autoindex::kJson;
  } else {
    return Status::Error("--autoindex takes off, html or json, not \"" + raw.autoindex + "\"");
  }
  if (raw.dotfiles != "allow" && raw.dotfiles != "deny") {
    return Status::Error("--dotfiles takes allow or deny, not \"" + raw.dotfiles + "\"");
  }
  std::string bad;
  const std::string list = raw.precompressed == "off" ? std::string() : raw.precompressed;
  std::optional<std::vector<http::Coding>> codings = http::ParseCodingList(list, &bad);
  if (!codings) {
    return Status::Error("--precompressed: \"" + bad + "\" is not one of br, zstd, gzip (each at most once)");
  }
  const std::string compress = raw.compress == "off" ? std::string() : raw.compress;
  std::optional<std::vector<http::Coding>> copies = http::ParseCodingList(compress, &bad);
  if (!copies) {
    return Status::Error("--compress: \"" + bad + "\" is not one of gzip, zstd, br (each at most once)");
  }
  config->index_files = std::move(index);
  config->compress = std::move(*copies);
  config->compress_min_size = raw.compress_min_size;
  config->autoindex = autoindex;
  config->deny_dotfiles = raw.dotfiles == "deny";
  config->precompressed = std::move(*codings);
  return Status::Ok();
}

}  // namespace fc::master
