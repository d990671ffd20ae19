// fc-http-frame: fc's HTTP framing, for the differential test against h11.
//
// Reads cases from stdin ("<length>\n<bytes>" each) and prints one line per
// case: the offset where each message fc would accept ends, then how the
// stream stops: "end" (all consumed), "incomplete", "reject" (fc answers an
// error and closes) or "close" (a chunked body: fc answers and closes).
// A message ends after its head and Content-Length bytes of body, exactly as
// the worker consumes it (an unused body is skipped, an upload is read).
#include <iostream>
#include <iterator>
#include <string>
#include <string_view>

#include "fc/protocol/http.h"

namespace {

bool ignore_body = false;  // --ignore-body: a deliberately wrong framing, for the self-check

std::string Frame(std::string_view data) {
  std::string out;
  size_t pos = 0;
  while (pos < data.size()) {
    fc::http::Request r;
    switch (fc::http::Parse(data.substr(pos), &r)) {
      case fc::http::ParseStatus::kOk:
        break;
      case fc::http::ParseStatus::kNeedMore:
        return out + "incomplete";
      default:
        return out + "reject";
    }
    if (ignore_body) r.content_length = 0;
    if (r.chunked) return out + "close";
    if (r.content_length > data.size() - pos - r.header_bytes) return out + "incomplete";
    pos += r.header_bytes + r.content_length;
    out += std::to_string(pos) + " ";
  }
  return out + "end";
}

}  // namespace

int main(int argc, char** argv) {
  ignore_body = argc > 1 && std::string_view(argv[1]) == "--ignore-body";
  const std::string input((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  size_t pos = 0;
  while (pos < input.size()) {
    const size_t nl = input.find('\n', pos);
    if (nl == std::string::npos) break;
    const size_t length = std::stoul(input.substr(pos, nl - pos));
    std::cout << Frame(std::string_view(input).substr(nl + 1, length)) << '\n';
    pos = nl + 1 + length;
  }
  return 0;
}
