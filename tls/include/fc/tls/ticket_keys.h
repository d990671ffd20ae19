// TicketKeys: the keys that seal TLS session tickets (TLS 1.2 tickets and
// TLS 1.3 PSKs), the same in every process of one fc without any channel
// between them. The master draws a random 32-byte secret at start; each
// rotation period (kRotateSeconds of wall-clock time, counted from the Unix
// epoch) the secret is replaced by an HMAC of itself, and the period's key is
// derived from the secret. Workers are forked with the master's state and
// step forward on their own, so a ticket sealed by any worker opens on every
// other, on a replacement after kill -9, and, once the state is handed over
// through a pipe, under a new master after SIGUSR2. The step is one-way: a
// process holding this period's secret cannot recompute an earlier key, so a
// key is gone once every process has stepped past it (forward secrecy).
// The previous period's key is kept to open tickets, never to seal them.
//
// Nothing here is written to disk or to the shared segment.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "fc/base/status.h"

namespace fc::tls {

struct TicketKey {
  uint8_t name[16];
  uint8_t aes[32];   // AES-256-CBC
  uint8_t hmac[32];  // HMAC-SHA256
};

class TicketKeys {
 public:
  static constexpr int64_t kRotateSeconds = 12 * 3600;

  // A new random secret, at the period of `now_s` (seconds since the epoch).
  static Result<TicketKeys> Generate(int64_t now_s);
  // The state Serialize wrote (the SIGUSR2 hand-over).
  static Result<TicketKeys> Parse(std::string_view bytes);
  TicketKeys() = default;
  ~TicketKeys();
  TicketKeys(const TicketKeys&) = default;
  TicketKeys& operator=(const TicketKeys&) = default;

  // Steps forward to the period of `now_s`; never back (a clock set back
  // keeps the current key).
  void AdvanceTo(int64_t now_s);
  const TicketKey& current() const { return current_; }
  // The key named `name`: 2 if it is the previous one (open, then renew the
  // ticket), 1 if the current one, 0 if unknown (a full handshake).
  int Find(const uint8_t name[16], const TicketKey** key) const;
  int64_t period() const { return period_; }
  std::string Serialize() const;

 private:
  void Derive();
  uint8_t secret_[32] = {};
  int64_t period_ = 0;
  TicketKey current_{};
  TicketKey previous_{};
  bool has_previous_ = false;
};

// The process's keys (every SSL_CTX of the process seals with them). The
// master sets them before forking; AdvanceTo runs under their lock.
void SetProcessTicketKeys(const TicketKeys& keys);
// Copies the process's keys after stepping them to `now_s` (for a hand-over).
TicketKeys ProcessTicketKeys(int64_t now_s);
// The key to seal with (`name` null: 1, the current key) or the key named
// `name` (as TicketKeys::Find), after stepping to `now_s`.
int ProcessTicketKey(int64_t now_s, const uint8_t* name, TicketKey* key);
// Steps the process's keys to `now_s` (the master does it once a minute, so
// that it does not keep an old period's secret for a later fork).
void AdvanceProcessTicketKeys(int64_t now_s);

}  // namespace fc::tls
