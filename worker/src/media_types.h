// Internal header: the Content-Type of a served file, from its extension.
//
// Read once at start from the system's table (/etc/mime.types, Debian's
// media-types package), with a small built-in table for when it is missing.
// Extensions match case-insensitively ("T.HTML" is HTML). Immutable after
// Load(), so any thread may call Lookup().
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>

namespace fc::worker {

class MediaTypes {
 public:
  // Reads `path` (mime.types format: "type ext ext ..." lines, '#' comments);
  // falls back to the built-in table when it cannot be read. Text types that
  // browsers render (text/html, text/plain) get "; charset=utf-8".
  static MediaTypes Load(const std::string& path, std::string default_type);

  // The type for `name` (a path; only its last component's extension counts).
  const std::string& Lookup(std::string_view name) const;
  size_t size() const { return types_.size(); }

 private:
  std::unordered_map<std::string, std::string> types_;  // lower-case extension -> type
  std::string default_type_;
};

}  // namespace fc::worker
