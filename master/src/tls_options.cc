// fc-master's HTTPS options; see tls_options.h.
#include "tls_options.h"

#include <boost/program_options.hpp>

#include "fc/base/net.h"

namespace po = boost::program_options;

namespace fc::master {

void AddTlsOptions(TlsRaw* raw, po::options_description* options) {
  options->add_options()
      ("tls-listen", po::value(&raw->listen)->value_name("HOST:PORT"),
       "serve HTTPS on this address too ([::1]:8443 for IPv6; port 0 picks a free one); needs "
       "--tls-cert and --tls-key (default off)")
      ("tls-cert", po::value(&raw->certs)->value_name("FILE")->composing(),
       "PEM certificate, leaf first, then its chain; give it again with another --tls-key for "
       "each further name: the certificate is chosen by SNI from its names, the first is the default")
      ("tls-key", po::value(&raw->keys)->value_name("FILE")->composing(),
       "PEM private key of the --tls-cert in the same position; read as root before the drop, "
       "and again on SIGHUP")
      ("tls-protocols", po::value(&raw->protocols)->value_name("LIST"),
       ("TLS versions, comma-separated: TLSv1.2, TLSv1.3 (default " + raw->protocols + ")").c_str())
      ("tls-ciphers", po::value(&raw->ciphers)->value_name("LIST"),
       "TLS 1.2 ciphers in OpenSSL syntax; TLS 1.3 uses OpenSSL's three suites (default "
       "intermediate: Mozilla's intermediate list of ECDHE and DHE with AES-GCM and ChaCha20)")
      ("redirect-https", po::bool_switch(&raw->redirect),
       "the plain listener answers 308 to the same host, path and query on the TLS port; never "
       "for the health path or a Host that is an IP address")
      ("hsts", po::value(&raw->hsts)->value_name("SEC"),
       "send Strict-Transport-Security: max-age=SEC on HTTPS replies (default 0: off)")
      ("tls-handshake-timeout", po::value(&raw->handshake_timeout_s)->value_name("SEC"),
       ("close a TLS connection whose handshake is not done in this (default " +
        std::to_string(raw->handshake_timeout_s) + ")").c_str())
      ("tls-max-handshakes", po::value(&raw->max_handshakes)->value_name("N"),
       ("TLS handshakes in progress per worker; more new connections are closed at once, so a "
        "flood of them cannot starve established ones (default " +
        std::to_string(raw->max_handshakes) + ")").c_str());
}

Status CheckTlsOptions(const TlsRaw& raw, MasterConfig* config) {
  worker::WorkerConfig* worker = &config->worker;
  if (raw.listen.empty()) {
    if (!raw.certs.empty() || !raw.keys.empty()) {
      return Status::Error("--tls-cert and --tls-key need --tls-listen HOST:PORT");
    }
    if (raw.redirect) return Status::Error("--redirect-https needs --tls-listen HOST:PORT");
  } else {
    auto where = net::ParseHostPort(raw.listen, "--tls-listen");
    if (!where.ok()) return where.status();
    if (raw.certs.empty()) return Status::Error("--tls-listen needs --tls-cert FILE and --tls-key FILE");
    if (raw.certs.size() != raw.keys.size()) {
      return Status::Error("give one --tls-key per --tls-cert (" + std::to_string(raw.certs.size()) +
                           " certificates, " + std::to_string(raw.keys.size()) + " keys)");
    }
  }
  std::vector<std::string> protocols;
  for (size_t start = 0; start <= raw.protocols.size();) {
    size_t comma = raw.protocols.find(',', start);
    if (comma == std::string::npos) comma = raw.protocols.size();
    const std::string p = raw.protocols.substr(start, comma - start);
    start = comma + 1;
    if (p != "TLSv1.2" && p != "TLSv1.3") {
      return Status::Error("--tls-protocols: \"" + p + "\" is not TLSv1.2 or TLSv1.3 (older ones are not served)");
    }
    protocols.push_back(p);
  }
  if (raw.hsts < 0 || raw.hsts > 2 * 365 * 86400) return Status::Error("--hsts must be between 0 and 63072000 seconds");
  if (raw.handshake_timeout_s < 1 || raw.handshake_timeout_s > 300) {
    return Status::Error("--tls-handshake-timeout must be between 1 and 300 seconds");
  }
  if (raw.max_handshakes < 1 || raw.max_handshakes > 100'000) {
    return Status::Error("--tls-max-handshakes must be between 1 and 100000");
  }
  config->tls_listen = raw.listen;
  config->tls_certs = raw.certs;
  config->tls_keys = raw.keys;
  config->tls.protocols = std::move(protocols);
  config->tls.ciphers = raw.ciphers == "intermediate" ? std::string() : raw.ciphers;
  worker->redirect_https = raw.redirect;
  worker->hsts_seconds = raw.hsts;
  worker->tls_handshake_timeout_ms = raw.handshake_timeout_s * 1000;
  worker->tls_max_handshakes = raw.max_handshakes;
  return Status::Ok();
}

}  // namespace fc::master
