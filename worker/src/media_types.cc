// Extension -> media type; see media_types.h.
#include "media_types.h"

#include "fc/worker/worker.h"

#include <cctype>
#include <fstream>
#include <sstream>

namespace fc::worker {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string WithCharset(const std::string& type) {
  return type == "text/html" || type == "text/plain" ? type + "; charset=utf-8" : type;
}

// Used when the system table is missing: the types browsers care most about.
const char* const kBuiltIn[][2] = {
    {"html", "text/html"},        {"htm", "text/html"},         {"txt", "text/plain"},
    {"css", "text/css"},          {"js", "text/javascript"},    {"mjs", "text/javascript"},
    {"json", "application/json"}, {"xml", "application/xml"},   {"png", "image/png"},
    {"jpg", "image/jpeg"},        {"jpeg", "image/jpeg"},       {"gif", "image/gif"},
    {"svg", "image/svg+xml"},     {"webp", "image/webp"},       {"ico", "image/vnd.microsoft.icon"},
    {"pdf", "application/pdf"},   {"wasm", "application/wasm"}, {"mp4", "video/mp4"},
    {"webm", "video/webm"},       {"mp3", "audio/mpeg"},        {"woff", "font/woff"},
    {"woff2", "font/woff2"},      {"zip", "application/zip"},   {"gz", "application/gzip"},
};

}  // namespace

MediaTypes MediaTypes::Load(const std::string& path, std::string default_type) {
  MediaTypes m;
  m.default_type_ = std::move(default_type);
  std::ifstream in(path);
  std::string line;
  while (in && std::getline(in, line)) {
    const size_t hash = line.find('#');
    if (hash != std::string::npos) line.resize(hash);
    std::istringstream words(line);
    std::string type, ext;
    if (!(words >> type)) continue;
    while (words >> ext) m.types_.emplace(Lower(ext), WithCharset(Lower(type)));  // first wins
  }
  if (m.types_.empty()) {
    for (const auto& entry : kBuiltIn) m.types_.emplace(entry[0], WithCharset(entry[1]));
  }
  return m;
}

const std::string& MediaTypes::Lookup(std::string_view name) const {
  const size_t slash = name.rfind('/');
  if (slash != std::string_view::npos) name.remove_prefix(slash + 1);
  const size_t dot = name.rfind('.');
  if (dot == std::string_view::npos || dot + 1 == name.size()) return default_type_;
  char ext[16];
  const std::string_view e = name.substr(dot + 1);
  if (e.size() >= sizeof(ext)) return default_type_;
  for (size_t i = 0; i < e.size(); ++i) {
    ext[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(e[i])));
  }
  const auto it = types_.find(std::string(ext, e.size()));
  return it == types_.end() ? default_type_ : it->second;
}

std::shared_ptr<const MediaTypes> LoadMediaTypes(const std::string& path,
                                                 const std::string& default_type) {
  return std::make_shared<const MediaTypes>(MediaTypes::Load(path, default_type));
}

}  // namespace fc::worker
