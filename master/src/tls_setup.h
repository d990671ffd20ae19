// Internal header: HTTPS at the master (docs/tls.md). The certificates are
// read as root, before the drop; a KeyReader, a small process that stays
// root and only reads the configured certificate and key files when asked,
// lets a master that runs as --user read them again on SIGHUP (a certbot
// renewal leaves them root's). The master builds the ServerTls from the
// bytes and forks its workers with it; no worker ever opens a key file.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "fc/base/status.h"
#include "fc/base/unique_fd.h"
#include "fc/master/master.h"
#include "fc/tls/server_tls.h"

namespace fc::master {

class KeyReader {
 public:
  // Forks the reader of these files (as root, before the drop), closing
  // `close_in_child` in it. It exits when the master does.
  static Result<std::unique_ptr<KeyReader>> Start(const std::vector<std::string>& certs,
                                                  const std::vector<std::string>& keys,
                                                  const std::vector<int>& close_in_child);
  // A reader started by the master this one upgrades (FC_UPGRADE_KEYS_FD).
  static std::unique_ptr<KeyReader> Adopt(int fd, std::vector<std::string> certs, std::vector<std::string> keys);
  ~KeyReader();
  // The pairs as they are on disk now; fails, naming the file, if any cannot be read.
  Result<std::vector<tls::CertPem>> Read();
  int fd() const { return socket_.get(); }
  const std::vector<std::string>& certs() const { return certs_; }
  const std::vector<std::string>& keys() const { return keys_; }

 private:
  KeyReader() = default;
  UniqueFd socket_;
  pid_t pid_ = 0;
  std::vector<std::string> certs_, keys_;
};

// Reads config's pairs (through `reader` when there is one, else directly),
// warns about key files others can read, and builds the contexts. The
// message names the file and OpenSSL's reason.
Result<std::shared_ptr<const tls::ServerTls>> LoadServerTls(const MasterConfig& config, KeyReader* reader);

}  // namespace fc::master
