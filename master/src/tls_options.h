// Internal header: fc-master's HTTPS options (docs/tls.md): the TLS listener,
// the certificate/key pairs, protocols, ciphers, the redirect and HSTS, and the
// handshake limits. Kept apart from options.cc so that the TLS flags, their
// checks and their help text sit together.
#pragma once

#include <string>
#include <vector>

#include <boost/program_options/options_description.hpp>

#include "fc/base/status.h"
#include "fc/master/master.h"

namespace fc::master {

struct TlsRaw {
  std::string listen, protocols = "TLSv1.2,TLSv1.3", ciphers = "intermediate";
  std::vector<std::string> certs, keys;
  bool redirect = false;
  int hsts = 0, handshake_timeout_s = 10, max_handshakes = 256;
};

void AddTlsOptions(TlsRaw* raw, boost::program_options::options_description* options);
// Checks the values and stores them in *config (tls_* and the worker's share).
Status CheckTlsOptions(const TlsRaw& raw, MasterConfig* config);

}  // namespace fc::master
