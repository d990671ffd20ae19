// Minimal JSON output helpers for the tools' --json modes. Names are arbitrary
// bytes: valid UTF-8 passes through, control characters are escaped, and bytes
// that are not UTF-8 become U+FFFD so the output is always valid JSON.
#pragma once

#include <string>
#include <string_view>

namespace fc::json {

// Returns `text` as a quoted JSON string.
std::string Quote(std::string_view text);

// The length of the valid UTF-8 sequence at s[i] (1 for ASCII), or 0 where
// the bytes there are not UTF-8 (overlong, surrogates, truncated, > U+10FFFF).
size_t Utf8Length(std::string_view s, size_t i);
bool IsUtf8(std::string_view s);

}  // namespace fc::json
