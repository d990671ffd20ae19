// Blocking socket helpers for fc-client, the tools and the tests: connect with a
// timeout, and full reads/writes that retry EINTR and turn timeouts and a closed
// peer into a Status naming the host. The worker's nonblocking I/O lives in worker/.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fc/base/status.h"
#include "fc/base/unique_fd.h"

namespace fc::net {

// Connects to host:port (name or address). Reads and writes on the returned
// socket time out after `timeout_ms` (SO_RCVTIMEO/SO_SNDTIMEO).
Result<UniqueFd> ConnectTcp(const std::string& host, uint16_t port, int timeout_ms);

// Writes all `length` bytes. `peer` names the other end in error messages.
Status WriteAll(int fd, const void* data, size_t length, const std::string& peer);
// Reads exactly `length` bytes; a clean EOF before that is an error.
Status ReadFull(int fd, void* data, size_t length, const std::string& peer);
// Reads up to `length` bytes; returns 0 at EOF.
Result<size_t> ReadSome(int fd, void* data, size_t length, const std::string& peer);

// Parses "123", "64K", "64M", "1G" (powers of 1024; an optional trailing "B" or
// "iB" is accepted). Returns an error naming `what` on anything else.
Result<uint64_t> ParseByteSize(const std::string& text, const std::string& what);
// Parses a TCP port 0..65535.
Result<uint16_t> ParsePort(const std::string& text);

struct HostPort {
  std::string host;
  uint16_t port = 0;
};
// Parses "HOST:PORT" or "[V6ADDR]:PORT". Errors name `what`.
Result<HostPort> ParseHostPort(const std::string& text, const std::string& what);

// An address prefix, "10.0.0.0/8", "::1" or "2001:db8::/32" (no bits: the
// one address). IPv4 is kept as IPv4-mapped IPv6, so "127.0.0.1" also
// matches a peer seen as "::ffff:127.0.0.1" on a dual-stack socket.
struct AddressRange {
  uint8_t bytes[16] = {};
  int bits = 128;
};
// Parses a comma-separated list of prefixes ("" is the empty list; "any" is
// every address). Errors name `what` and the bad item.
Result<std::vector<AddressRange>> ParseAddressRanges(const std::string& text, const std::string& what);
// Whether `host` (an address as inet_ntop writes it) is in one of `ranges`;
// false for anything that is not an address.
bool InAddressRanges(const std::vector<AddressRange>& ranges, const std::string& host);

}  // namespace fc::net
