// Internal header: one attempt of a resumable transfer (both protocols): back
// off before a retry (50 ms doubling, at most 1 s), then connect.
#pragma once

#include <unistd.h>

#include <algorithm>

#include "fc/client/client.h"
#include "fc/base/net.h"

namespace fc::client {

// Counts the attempt in *summary, backs off before a retry, and connects
// into *conn.
inline Status StartAttempt(const Endpoint& server, int attempt, FetchSummary* summary, UniqueFd* conn) {
  summary->attempts = attempt + 1;
  if (attempt > 0) ::usleep(static_cast<useconds_t>(std::min(1000, 50 << std::min(attempt, 5)) * 1000));
  auto connected = net::ConnectTcp(server.host, server.port, server.timeout_ms);
  if (!connected.ok()) return connected.status();
  *conn = std::move(connected.value());
  return Status::Ok();
}

}  // namespace fc::client
