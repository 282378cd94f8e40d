// TLS for the client API (HTTPS), the peer transport (mutual TLS) and the
// client library, on OpenSSL 3 through boost::asio::ssl. This header is
// cheap: the OpenSSL and asio::ssl types stay in tls.cc and the few files
// that run TLS streams (docs/SECURITY.md "TLS").
//
// Defaults, the same for every context: TLS 1.2 or newer, only
// forward-secret AEAD ciphers for TLS 1.2 (TLS 1.3's suites are all
// strong), OpenSSL security level 2 (RSA/DH keys >= 2048 bits, no SHA-1
// signatures), no compression, no renegotiation.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"

namespace boost::asio::ssl {
class context;
}
namespace boost::system {
class error_code;
}
struct ssl_st;  // OpenSSL's SSL

namespace api {

using common::Result;
using common::Status;

// The files of one TLS identity and the flag names they came from, so a
// refusal names both ("--peer-key /etc/ca/peer.key does not match ...").
struct TlsFiles {
  std::string cert;  // PEM certificate chain, leaf first
  std::string key;   // PEM private key of the leaf
  std::string ca;    // PEM CA certificate(s) the other side must chain to; "" = none
  std::string cert_flag = "--cert";
  std::string key_flag = "--key";
  std::string ca_flag = "--ca";
};

enum class TlsRole {
  // HTTPS listener. With a CA, a client certificate is verified when one is
  // offered (and its CN handed to the router); with require_peer_cert a
  // client without a verified certificate fails the handshake.
  kServer,
  // Peer transport: both sides present a certificate and require one that
  // chains to the peer CA (require_peer_cert is implied).
  kPeer,
};

// A reloadable server-side context. Every new connection takes current()
// and holds it for its lifetime, so reload() changes what new connections
// see while existing ones continue on the old certificate.
// Threading: load/reload/current on the io_context's thread.
class TlsContext {
 public:
  // Reads and checks every file; one readable error naming the file and
  // the reason (unreadable, not PEM, key does not match cert, bad CA).
  static Result<std::shared_ptr<TlsContext>> load(TlsFiles files, TlsRole role,
                                                  bool require_peer_cert);
  // Re-reads the same paths. On failure the previous context stays in use
  // and the reason is returned (the operator fixes the files, sends SIGHUP
  // again).
  Status reload();
  std::shared_ptr<boost::asio::ssl::context> current() const { return current_; }
  const TlsFiles& files() const { return files_; }
  TlsRole role() const { return role_; }
  bool require_peer_cert() const { return require_peer_cert_; }
  // The leaf certificate's subject and expiry, for the start/reload log line.
  const std::string& description() const { return description_; }

 private:
  TlsContext(TlsFiles files, TlsRole role, bool require_peer_cert)
      : files_(std::move(files)), role_(role), require_peer_cert_(require_peer_cert) {}
  TlsFiles files_;
  TlsRole role_;
  bool require_peer_cert_;
  std::shared_ptr<boost::asio::ssl::context> current_;
  std::string description_;
};

// The client library's context: verifies the server against `ca` (the
// system's CAs when empty) and presents cert/key when both are given.
// Errors name the flag ("--ca", "--cert", "--key") as the TlsFiles say.
Result<std::shared_ptr<boost::asio::ssl::context>> make_client_tls_context(const TlsFiles& files);

// The subject CN of the other side's certificate if it presented one and
// it verified; "" otherwise.
std::string verified_peer_cn(ssl_st* ssl);

// A TLS failure as one readable phrase: OpenSSL's reason plus, for a
// certificate that failed verification, why (e.g. "certificate verify
// failed: unable to get local issuer certificate"), and for an alert by
// which the other side refused our certificate, that. ssl may be null.
std::string tls_failure(ssl_st* ssl, const boost::system::error_code& ec);

// The other side spoke plain HTTP to a TLS port (OpenSSL's "http request").
bool is_plain_http_on_tls(const boost::system::error_code& ec);

}  // namespace api
