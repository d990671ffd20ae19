// Minimal JSON output helpers for the tools' --json modes. Names are arbitrary
// bytes: valid UTF-8 passes through, control characters are escaped, and bytes
// that are not UTF-8 become U+FFFD so the output is always valid JSON.
#pragma once

#include <string>
#include <string_view>

namespace fc::json {

// Returns `text` as a quoted JSON string.
std::string Quote(std::string_view text);

}  // namespace fc::json
