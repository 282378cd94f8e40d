#include "api/peer_stream.h"

#include <boost/asio/ip/address.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <stdexcept>

#include "api/tls.h"

namespace api {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using asio::use_awaitable;
using asio::ip::tcp;

struct PeerStream::Tls {
  Tls(tcp::socket& sock, std::shared_ptr<ssl::context> c) : ctx(std::move(c)), stream(sock, *ctx) {}
  std::shared_ptr<ssl::context> ctx;  // outlives the stream: declared first
  ssl::stream<tcp::socket&> stream;
};

PeerStream::PeerStream(asio::io_context& io, const std::shared_ptr<TlsContext>& tls) : socket_(io) {
  if (tls) tls_ = std::make_unique<Tls>(socket_, tls->current());
}

PeerStream::~PeerStream() = default;

bool PeerStream::tls() const {
  return tls_ != nullptr;
}

namespace {

asio::awaitable<void> handshake(ssl::stream<tcp::socket&>& stream,
                                ssl::stream_base::handshake_type type) {
  boost::system::error_code ec;
  co_await stream.async_handshake(type, asio::redirect_error(use_awaitable, ec));
  if (ec)
    throw std::runtime_error("TLS handshake failed: " + tls_failure(stream.native_handle(), ec));
}

}  // namespace

asio::awaitable<void> PeerStream::handshake_as_client(const std::string& host) {
  if (!tls_) co_return;
  // The dialled address must be one the peer's certificate names (an IP or
  // DNS SAN), as for any TLS client; SNI for a DNS name.
  tls_->stream.set_verify_callback(ssl::host_name_verification(host));
  boost::system::error_code ec;
  asio::ip::make_address(host, ec);
  if (ec) SSL_set_tlsext_host_name(tls_->stream.native_handle(), host.c_str());
  co_await handshake(tls_->stream, ssl::stream_base::client);
}

asio::awaitable<void> PeerStream::handshake_as_server() {
  if (!tls_) co_return;
  co_await handshake(tls_->stream, ssl::stream_base::server);
}

asio::awaitable<void> PeerStream::read(asio::mutable_buffer buf) {
  if (tls_) {
    co_await asio::async_read(tls_->stream, buf, use_awaitable);
  } else {
    co_await asio::async_read(socket_, buf, use_awaitable);
  }
}

asio::awaitable<void> PeerStream::write(const std::vector<asio::const_buffer>& bufs) {
  if (tls_) {
    co_await asio::async_write(tls_->stream, bufs, use_awaitable);
  } else {
    co_await asio::async_write(socket_, bufs, use_awaitable);
  }
}

void PeerStream::cancel() {
  boost::system::error_code ignored;
  socket_.cancel(ignored);
}

void PeerStream::close() {
  boost::system::error_code ignored;
  socket_.close(ignored);
}

}  // namespace api
