// libFuzzer target: what fc-client parses from a server — reply headers and
// LIST bodies — and the JSON quoting it applies to names.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "fc/base/json.h"
#include "fc/protocol/wire.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size >= fc::protocol::kReplyHeaderSize) {
    fc::protocol::ReplyHeader h;
    (void)fc::protocol::DecodeReplyHeader(data, &h);
  }
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  std::vector<fc::protocol::ListItem> items;
  if (fc::protocol::DecodeListBody(body, &items)) {
    // Round trip: what decodes must encode back to the same bytes.
    if (fc::protocol::EncodeListBody(items) != body) __builtin_trap();
    for (const auto& item : items) (void)fc::json::Quote(item.name);
  }
  (void)fc::json::Quote(body);
  return 0;
}
