// changeagent's TLS flags (docs/SECURITY.md "TLS"): the client side
// (--cert, --key, --ca, --client-cert-auth, --listen-client-https) and the
// peer side (--peer-cert, --peer-key, --peer-ca), turned into reloadable
// contexts, and SIGHUP reloading them; and the client context for https
// validator webhooks (--webhook-ca, --webhook-cert, --webhook-key), read at
// start only.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/program_options.hpp>
#include <memory>
#include <string>

#include "api/tls.h"

namespace tools {

struct TlsSetup {
  std::shared_ptr<api::TlsContext> client;  // HTTPS listener; null = no HTTPS
  std::shared_ptr<api::TlsContext> peer;    // peer mTLS; null = plain TCP
  // The HTTPS listener's host:port ("" = none) and whether the plain HTTP
  // listener (--listen-client) runs too: only when given explicitly
  // alongside --listen-client-https.
  std::string https_listen;
  bool plain_http = true;
  // https validator webhooks: verified against --webhook-ca or the
  // system's CAs; --webhook-cert presented when given. Never null.
  std::shared_ptr<boost::asio::ssl::context> webhook;
  // For --join: the client files the joining node presents to the cluster.
  std::string client_ca, client_cert, client_key;
};

void add_tls_options(boost::program_options::options_description& desc);

// Loads every file; one readable error naming the flag, the file and why.
common::Result<TlsSetup> tls_from_flags(const boost::program_options::variables_map& vm);

// On each SIGHUP, re-reads the certificate files: new connections use the
// new ones, existing connections continue. A bad file keeps the previous
// certificates and logs why.
void reload_tls_on_sighup(boost::asio::io_context& io, const TlsSetup& setup);

}  // namespace tools
