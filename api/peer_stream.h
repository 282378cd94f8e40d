// One peer connection's byte stream: plain TCP, or mutual TLS over it with
// the peer CA (--peer-cert/--peer-key/--peer-ca). The transport's framing,
// handshake frames and cluster id check run the same over either; the TLS
// handshake comes first. asio::ssl stays inside peer_stream.cc.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <string>
#include <vector>

namespace api {

class TlsContext;

class PeerStream {
 public:
  // tls: the peer context (its current() at construction is kept for this
  // connection's lifetime); null for plain TCP.
  PeerStream(boost::asio::io_context& io, const std::shared_ptr<TlsContext>& tls);
  ~PeerStream();
  PeerStream(const PeerStream&) = delete;
  PeerStream& operator=(const PeerStream&) = delete;

  boost::asio::ip::tcp::socket& socket() { return socket_; }
  bool tls() const;

  // The TLS handshake after connect/accept (nothing for plain TCP). Throws
  // std::runtime_error whose text says why, e.g. "TLS handshake failed:
  // certificate verify failed: unable to get local issuer certificate".
  // As the dialling side, the peer's certificate must also name `host`.
  boost::asio::awaitable<void> handshake_as_client(const std::string& host);
  boost::asio::awaitable<void> handshake_as_server();

  // Exactly the buffer's size, or throws boost::system::system_error.
  boost::asio::awaitable<void> read(boost::asio::mutable_buffer buf);
  boost::asio::awaitable<void> write(const std::vector<boost::asio::const_buffer>& bufs);

  // Ends pending operations (they fail with operation_aborted) / the socket.
  void cancel();
  void close();

  struct Tls;

 private:
  boost::asio::ip::tcp::socket socket_;
  std::unique_ptr<Tls> tls_;
};

}  // namespace api
