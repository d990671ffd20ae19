// libFuzzer target: the HTTP/1.1 request parser, percent-decoding and dates.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fc/protocol/http.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  fc::http::Request request;
  std::string_view rest = text;
  // Several pipelined requests, as a connection would see them.
  for (int i = 0; i < 8; ++i) {
    if (fc::http::Parse(rest, &request) != fc::http::ParseStatus::kOk) break;
    if (request.header_bytes == 0 || request.header_bytes > rest.size()) __builtin_trap();
    rest.remove_prefix(request.header_bytes);
  }
  std::string decoded;
  (void)fc::http::PercentDecode(text, &decoded);
  time_t t;
  if (fc::http::ParseHttpDate(text, &t)) (void)fc::http::FormatHttpDate(t);
  (void)fc::http::LooksLikeHttp(text);
  return 0;
}
