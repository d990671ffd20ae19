// TicketKeys: the one-way chain of ticket secrets; see ticket_keys.h.
#include "fc/tls/ticket_keys.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <cstring>
#include <mutex>

namespace fc::tls {
namespace {

constexpr char kMagic[8] = {'f', 'c', 't', 'k', 'e', 'y', 's', '1'};

void Mac(const uint8_t secret[32], const char* label, uint8_t out[32]) {
  unsigned int len = 32;
  HMAC(EVP_sha256(), secret, 32, reinterpret_cast<const unsigned char*>(label), std::strlen(label), out, &len);
}

int64_t PeriodOf(int64_t now_s) { return now_s / TicketKeys::kRotateSeconds; }

std::mutex g_mu;
TicketKeys g_keys;

}  // namespace

TicketKeys::~TicketKeys() {
  OPENSSL_cleanse(secret_, sizeof(secret_));
  OPENSSL_cleanse(&current_, sizeof(current_));
  OPENSSL_cleanse(&previous_, sizeof(previous_));
}

Result<TicketKeys> TicketKeys::Generate(int64_t now_s) {
  TicketKeys keys;
  if (RAND_priv_bytes(keys.secret_, sizeof(keys.secret_)) != 1) {
    return Status::Error("cannot draw the TLS session-ticket secret from OpenSSL's random generator");
  }
  keys.period_ = PeriodOf(now_s);
  keys.Derive();
  return keys;
}

void TicketKeys::Derive() {
  uint8_t name[32];
  Mac(secret_, "fc ticket key name", name);
  std::memcpy(current_.name, name, sizeof(current_.name));
  Mac(secret_, "fc ticket aes-256-cbc", current_.aes);
  Mac(secret_, "fc ticket hmac-sha256", current_.hmac);
  OPENSSL_cleanse(name, sizeof(name));
}

void TicketKeys::AdvanceTo(int64_t now_s) {
  const int64_t target = PeriodOf(now_s);
  for (; period_ < target; ++period_) {
    previous_ = current_;  // opens tickets sealed in the period just ended
    has_previous_ = true;
    uint8_t next[32];
    Mac(secret_, "fc ticket next period", next);
    std::memcpy(secret_, next, sizeof(secret_));
    OPENSSL_cleanse(next, sizeof(next));
    Derive();
  }
}

int TicketKeys::Find(const uint8_t name[16], const TicketKey** key) const {
  if (CRYPTO_memcmp(name, current_.name, sizeof(current_.name)) == 0) {
    *key = &current_;
    return 1;
  }
  if (has_previous_ && CRYPTO_memcmp(name, previous_.name, sizeof(previous_.name)) == 0) {
    *key = &previous_;
    return 2;
  }
  return 0;
}

std::string TicketKeys::Serialize() const {
  std::string out(kMagic, sizeof(kMagic));
  out.append(reinterpret_cast<const char*>(secret_), sizeof(secret_));
  out.append(reinterpret_cast<const char*>(&period_), sizeof(period_));
  out.push_back(has_previous_ ? 1 : 0);
  out.append(reinterpret_cast<const char*>(&previous_), sizeof(previous_));
  return out;
}

Result<TicketKeys> TicketKeys::Parse(std::string_view bytes) {
  const size_t want = sizeof(kMagic) + 32 + sizeof(int64_t) + 1 + sizeof(TicketKey);
  if (bytes.size() != want || std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0) {
    return Status::Error("the old master's TLS ticket keys are malformed (" + std::to_string(bytes.size()) +
                         " bytes)");
  }
  TicketKeys keys;
  const char* p = bytes.data() + sizeof(kMagic);
  std::memcpy(keys.secret_, p, 32);
  p += 32;
  std::memcpy(&keys.period_, p, sizeof(keys.period_));
  p += sizeof(keys.period_);
  keys.has_previous_ = *p++ != 0;
  std::memcpy(&keys.previous_, p, sizeof(keys.previous_));
  keys.Derive();
  return keys;
}

void SetProcessTicketKeys(const TicketKeys& keys) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_keys = keys;
}

TicketKeys ProcessTicketKeys(int64_t now_s) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_keys.AdvanceTo(now_s);
  return g_keys;
}

int ProcessTicketKey(int64_t now_s, const uint8_t* name, TicketKey* key) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_keys.AdvanceTo(now_s);
  if (name == nullptr) {
    *key = g_keys.current();
    return 1;
  }
  const TicketKey* found = nullptr;
  const int which = g_keys.Find(name, &found);
  if (which != 0) *key = *found;
  return which;
}

void AdvanceProcessTicketKeys(int64_t now_s) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_keys.AdvanceTo(now_s);
}

}  // namespace fc::tls
