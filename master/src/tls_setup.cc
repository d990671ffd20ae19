// HTTPS at the master: the key reader and loading the contexts; see tls_setup.h.
#include "tls_setup.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "fc/base/log.h"
#include "fc/base/net.h"
#include "process.h"

namespace fc::master {
namespace {

void PutString(std::string* out, const std::string& s) {
  const uint32_t n = static_cast<uint32_t>(s.size());
  out->append(reinterpret_cast<const char*>(&n), sizeof(n));
  out->append(s);
}

bool TakeString(std::string_view* in, std::string* s) {
  uint32_t n;
  if (in->size() < sizeof(n)) return false;
  std::memcpy(&n, in->data(), sizeof(n));
  in->remove_prefix(sizeof(n));
  if (in->size() < n) return false;
  s->assign(in->data(), n);
  in->remove_prefix(n);
  return true;
}

// The reader's reply to one request: per pair an error ("" if none), the
// certificate and the key; the whole prefixed by its length.
std::string ReadPairs(const std::vector<std::string>& certs, const std::vector<std::string>& keys) {
  std::string body;
  for (size_t i = 0; i < certs.size(); ++i) {
    auto pem = tls::ReadCertPem(certs[i], keys[i]);
    PutString(&body, pem.ok() ? std::string() : pem.status().message());
    PutString(&body, pem.ok() ? pem.value().cert : std::string());
    PutString(&body, pem.ok() ? pem.value().key : std::string());
    if (pem.ok()) {
      std::fill(pem.value().key.begin(), pem.value().key.end(), '\0');
    }
  }
  std::string out;
  PutString(&out, body);
  std::fill(body.begin(), body.end(), '\0');
  return out;
}

int ServeReads(int fd, const std::vector<std::string>& certs, const std::vector<std::string>& keys) {
  // It outlives a master that upgrades (the new one inherits the socket):
  // it ends at EOF, once no master holds the other end.
  ::signal(SIGTERM, SIG_IGN);
  for (;;) {
    char request;
    const ssize_t n = ::read(fd, &request, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n != 1 || request != 'R') return 0;  // the master is gone
    std::string reply = ReadPairs(certs, keys);
    const Status sent = net::WriteAll(fd, reply.data(), reply.size(), "fc-master");
    std::fill(reply.begin(), reply.end(), '\0');
    if (!sent.ok()) return 0;
  }
}

}  // namespace

Result<std::unique_ptr<KeyReader>> KeyReader::Start(const std::vector<std::string>& certs,
                                                    const std::vector<std::string>& keys,
                                                    const std::vector<int>& close_in_child) {
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
    return Status::FromErrno(errno, "socketpair", "TLS key reader");
  }
  std::unique_ptr<KeyReader> reader(new KeyReader());
  reader->socket_.Reset(pair[0]);
  reader->certs_ = certs;
  reader->keys_ = keys;
  std::vector<int> close = close_in_child;
  close.push_back(pair[0]);
  const int child_end = pair[1];
  // Named fc-keys from its first instruction (as the standby), so that
  // nothing ever counts it as a worker.
  char name[16] = "fc-keys", own[16] = {};
  ::prctl(PR_GET_NAME, own);
  ::prctl(PR_SET_NAME, name);
  auto pid = SpawnChild(close, [child_end, certs, keys] { return ServeReads(child_end, certs, keys); });
  ::prctl(PR_SET_NAME, own);
  ::close(pair[1]);
  if (!pid.ok()) return pid.status();
  reader->pid_ = pid.value();
  timeval limit{5, 0};  // a reader that hangs (a key on a dead NFS mount) fails the reload, not the master
  ::setsockopt(reader->socket_.get(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit));
  return reader;
}

std::unique_ptr<KeyReader> KeyReader::Adopt(int fd, std::vector<std::string> certs, std::vector<std::string> keys) {
  std::unique_ptr<KeyReader> reader(new KeyReader());
  reader->socket_.Reset(fd);
  reader->certs_ = std::move(certs);
  reader->keys_ = std::move(keys);
  timeval limit{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit));
  return reader;
}

KeyReader::~KeyReader() {
  // EOF, and the reader exits, unless a new master (an upgrade) holds the
  // socket too: then it stays for that one. Never wait for it here.
  socket_.Reset();
  if (pid_ > 0) ::waitpid(pid_, nullptr, WNOHANG);
}

Result<std::vector<tls::CertPem>> KeyReader::Read() {
  if (Status sent = net::WriteAll(socket_.get(), "R", 1, "the TLS key reader"); !sent.ok()) return sent;
  std::string frame;
  char buf[16384];
  uint32_t want = 0;
  while (frame.size() < sizeof(want) || frame.size() < sizeof(want) + want) {
    auto n = net::ReadSome(socket_.get(), buf, sizeof(buf), "the TLS key reader");
    if (!n.ok()) return n.status();
    if (n.value() == 0) return Status::Error("the TLS key reader (fc-keys) is gone; restart fc to read new keys");
    frame.append(buf, n.value());
    if (frame.size() >= sizeof(want)) std::memcpy(&want, frame.data(), sizeof(want));
  }
  std::string_view in(frame);
  in.remove_prefix(sizeof(want));
  std::vector<tls::CertPem> pairs;
  for (size_t i = 0; i < certs_.size(); ++i) {
    tls::CertPem pem;
    std::string error;
    if (!TakeString(&in, &error) || !TakeString(&in, &pem.cert) || !TakeString(&in, &pem.key)) {
      return Status::Error("the TLS key reader sent a malformed reply");
    }
    if (!error.empty()) return Status::Error(error);
    pem.cert_file = certs_[i];
    pem.key_file = keys_[i];
    pairs.push_back(std::move(pem));
  }
  std::fill(frame.begin(), frame.end(), '\0');
  return pairs;
}

Result<std::shared_ptr<const tls::ServerTls>> LoadServerTls(const MasterConfig& config, KeyReader* reader) {
  std::vector<tls::CertPem> pairs;
  if (reader != nullptr) {
    if (reader->certs() != config.tls_certs || reader->keys() != config.tls_keys) {
      return Status::Error("--tls-cert and --tls-key name other files than at start; the key reader reads "
                           "only those (restart fc to change the paths)");
    }
    auto read = reader->Read();
    if (!read.ok()) return read.status();
    pairs = std::move(read.value());
  } else {
    for (size_t i = 0; i < config.tls_certs.size(); ++i) {
      auto pem = tls::ReadCertPem(config.tls_certs[i], config.tls_keys[i]);
      if (!pem.ok()) return pem.status();
      pairs.push_back(std::move(pem.value()));
    }
  }
  for (const std::string& key : config.tls_keys) {
    if (std::string warning = tls::KeyFileWarning(key); !warning.empty()) log::Line(warning);
  }
  auto built = tls::ServerTls::Create(config.tls, pairs);
  for (tls::CertPem& p : pairs) std::fill(p.key.begin(), p.key.end(), '\0');
  return built;
}

}  // namespace fc::master
