#include "api/tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace api {

namespace ssl = boost::asio::ssl;
using common::Code;

namespace {

// TLS 1.2 suites: ECDHE key exchange (forward secrecy) with AEAD ciphers
// only: no CBC, no RSA key exchange, no SHA-1 MACs. TLS 1.3 suites are
// OpenSSL's defaults, which are all AEAD.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
// Level 2: keys of at least 112 bits of security (RSA/DH 2048, EC 224),
// no SHA-1 in signatures.
constexpr int kSecurityLevel = 2;

// The newest OpenSSL error on this thread's queue as text, and clears it.
std::string openssl_reason(const boost::system::error_code& ec) {
  unsigned long e = ERR_peek_last_error();
  ERR_clear_error();
  if (e != 0) {
    const char* r = ERR_reason_error_string(e);
    if (r) return r;
  }
  return ec ? ec.message() : "unknown OpenSSL error";
}

// "": readable. Else why not, as errno tells it.
std::string unreadable(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return std::strerror(errno);
  std::fclose(f);
  return {};
}

// OpenSSL's way of saying the file holds no PEM block of the kind asked for.
bool pem_missing(const boost::system::error_code& ec, const std::string& reason) {
  std::string m = ec.message() + " " + reason;
  return m.find("PEM lib") != std::string::npos || m.find("no start line") != std::string::npos;
}

Status file_error(const std::string& flag, const std::string& path, const std::string& why) {
  return Status(Code::kInvalidArgument, flag + " " + path + ": " + why);
}

Status harden(ssl::context& ctx) {
  SSL_CTX* c = ctx.native_handle();
  if (SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_cipher_list(c, kTls12Ciphers) != 1) {
    return Status(Code::kInternal, "OpenSSL refused the TLS defaults: " + openssl_reason({}));
  }
  SSL_CTX_set_security_level(c, kSecurityLevel);
  SSL_CTX_set_options(
      c, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  return Status::ok();
}

Status use_identity(ssl::context& ctx, const TlsFiles& f) {
  boost::system::error_code ec;
  if (auto why = unreadable(f.cert); !why.empty()) {
    return file_error(f.cert_flag, f.cert, "cannot read: " + why);
  }
  if (auto why = unreadable(f.key); !why.empty()) {
    return file_error(f.key_flag, f.key, "cannot read: " + why);
  }
  ctx.use_certificate_chain_file(f.cert, ec);
  if (ec) {
    std::string reason = openssl_reason(ec);
    if (pem_missing(ec, reason)) return file_error(f.cert_flag, f.cert, "no PEM certificate in it");
    return file_error(f.cert_flag, f.cert, "not a usable PEM certificate (" + reason + ")");
  }
  ctx.use_private_key_file(f.key, ssl::context::pem, ec);
  if (ec) {
    std::string reason = openssl_reason(ec);
    // OpenSSL checks the pair while loading the key and says so tersely.
    if (reason.find("mismatch") != std::string::npos) {
      return Status(Code::kInvalidArgument, f.key_flag + " " + f.key +
                                                " does not match the certificate in " +
                                                f.cert_flag + " " + f.cert);
    }
    if (pem_missing(ec, reason)) return file_error(f.key_flag, f.key, "no PEM private key in it");
    return file_error(f.key_flag, f.key, "not a usable PEM private key (" + reason + ")");
  }
  if (SSL_CTX_check_private_key(ctx.native_handle()) != 1) {
    ERR_clear_error();
    return Status(Code::kInvalidArgument, f.key_flag + " " + f.key +
                                              " does not match the certificate in " + f.cert_flag +
                                              " " + f.cert);
  }
  return Status::ok();
}

Status use_ca(ssl::context& ctx, const TlsFiles& f) {
  if (auto why = unreadable(f.ca); !why.empty()) {
    return file_error(f.ca_flag, f.ca, "cannot read: " + why);
  }
  boost::system::error_code ec;
  ctx.load_verify_file(f.ca, ec);
  if (ec) {
    return file_error(f.ca_flag, f.ca,
                      "no usable PEM CA certificate in it (" + openssl_reason(ec) + ")");
  }
  return Status::ok();
}

std::string name_cn(X509_NAME* name) {
  int idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (idx < 0) return {};
  ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx));
  unsigned char* utf8 = nullptr;
  int n = ASN1_STRING_to_UTF8(&utf8, data);
  if (n < 0) return {};
  std::string out(reinterpret_cast<char*>(utf8), static_cast<size_t>(n));
  OPENSSL_free(utf8);
  return out;
}

std::string describe_leaf(ssl::context& ctx) {
  X509* leaf = SSL_CTX_get0_certificate(ctx.native_handle());
  if (!leaf) return "no certificate";
  std::string out = "CN=" + name_cn(X509_get_subject_name(leaf));
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio && ASN1_TIME_print(bio, X509_get0_notAfter(leaf)) == 1) {
    char* p = nullptr;
    long n = BIO_get_mem_data(bio, &p);
    out += ", valid until " + std::string(p, static_cast<size_t>(n));
  }
  BIO_free(bio);
  if (X509_cmp_current_time(X509_get0_notAfter(leaf)) < 0) out += " (EXPIRED)";
  return out;
}

Result<std::shared_ptr<ssl::context>> build_server(const TlsFiles& f, TlsRole role,
                                                   bool require_peer_cert) {
  // A peer context both accepts and dials, so it takes the generic method.
  auto ctx = std::make_shared<ssl::context>(role == TlsRole::kPeer ? ssl::context::tls
                                                                   : ssl::context::tls_server);
  if (auto s = harden(*ctx); !s.is_ok()) return s;
  if (auto s = use_identity(*ctx, f); !s.is_ok()) return s;
  bool must_verify = role == TlsRole::kPeer || require_peer_cert;
  if (must_verify && f.ca.empty()) {
    return Status(Code::kInvalidArgument,
                  f.ca_flag + " is required to verify the other side's certificate");
  }
  if (!f.ca.empty()) {
    if (auto s = use_ca(*ctx, f); !s.is_ok()) return s;
    // The CA's names are what the server asks clients for.
    if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(f.ca.c_str())) {
      SSL_CTX_set_client_CA_list(ctx->native_handle(), names);
    }
    ctx->set_verify_mode(must_verify ? ssl::verify_peer | ssl::verify_fail_if_no_peer_cert
                                     : ssl::verify_peer);
  } else {
    ctx->set_verify_mode(ssl::verify_none);
  }
  return ctx;
}

}  // namespace

Result<std::shared_ptr<TlsContext>> TlsContext::load(TlsFiles files, TlsRole role,
                                                     bool require_peer_cert) {
  std::shared_ptr<TlsContext> t(new TlsContext(std::move(files), role, require_peer_cert));
  if (auto s = t->reload(); !s.is_ok()) return s;
  return t;
}

Status TlsContext::reload() {
  auto ctx = build_server(files_, role_, require_peer_cert_);
  if (!ctx.is_ok()) return ctx.status();
  current_ = std::move(*ctx);
  description_ = describe_leaf(*current_);
  return Status::ok();
}

Result<std::shared_ptr<ssl::context>> make_client_tls_context(const TlsFiles& f) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  if (auto s = harden(*ctx); !s.is_ok()) return s;
  if (f.cert.empty() != f.key.empty()) {
    return Status(Code::kInvalidArgument, f.cert_flag + " and " + f.key_flag + " go together");
  }
  if (!f.cert.empty()) {
    if (auto s = use_identity(*ctx, f); !s.is_ok()) return s;
  }
  if (!f.ca.empty()) {
    if (auto s = use_ca(*ctx, f); !s.is_ok()) return s;
  } else {
    ctx->set_default_verify_paths();
  }
  ctx->set_verify_mode(ssl::verify_peer);
  return ctx;
}

std::string verified_peer_cn(ssl_st* ssl) {
  if (!ssl || SSL_get_verify_result(ssl) != X509_V_OK) return {};
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (!cert) return {};
  return name_cn(X509_get_subject_name(cert));
}

std::string tls_failure(ssl_st* ssl, const boost::system::error_code& ec) {
  std::string out = ec.message();
  if (ssl && (ec == boost::asio::ssl::error::stream_truncated || ec == boost::asio::error::eof)) {
    return "the other side closed the connection during the TLS handshake (it may have refused "
           "our certificate)";
  }
  if (ec.category() == boost::asio::error::get_ssl_category()) {
    switch (ERR_GET_REASON(static_cast<unsigned long>(ec.value()))) {
      case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
      case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
      case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
      case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
        return out +
               ": the other side refused our certificate (is it signed by the CA the "
               "other side trusts?)";
      case SSL_R_CERTIFICATE_VERIFY_FAILED:
        if (ssl) {
          long v = SSL_get_verify_result(ssl);
          if (v != X509_V_OK) out += ": " + std::string(X509_verify_cert_error_string(v));
        }
        return out;
      default:
        break;
    }
  }
  return out;
}

bool is_plain_http_on_tls(const boost::system::error_code& ec) {
  return ec.category() == boost::asio::error::get_ssl_category() &&
         ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == SSL_R_HTTP_REQUEST;
}

}  // namespace api
