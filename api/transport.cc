#include "api/transport.h"

#include <spdlog/spdlog.h>

#include <boost/asio.hpp>
#include <deque>
#include <set>

#include "api/peer_stream.h"
#include "api/tls.h"

namespace api {

namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;
using asio::ip::tcp;
using changeagent::peer::Handshake;
using changeagent::peer::PeerFrame;
using raftlog::NodeId;

namespace {

std::shared_ptr<spdlog::logger> log() {
  static auto logger = [] {
    auto l = spdlog::get("transport");
    return l ? l : spdlog::default_logger()->clone("transport");
  }();
  return logger;
}

std::string frame_bytes(const PeerFrame& frame) {
  std::string body;
  frame.SerializeToString(&body);
  std::string out(4, '\0');
  uint32_t n = static_cast<uint32_t>(body.size());
  out[0] = static_cast<char>(n >> 24);
  out[1] = static_cast<char>(n >> 16);
  out[2] = static_cast<char>(n >> 8);
  out[3] = static_cast<char>(n);
  return out + body;
}

// Reads one frame; throws on IO error, on a frame over the limit, or on
// bytes that do not parse.
awaitable<PeerFrame> read_frame(PeerStream& stream, uint32_t frame_bytes_max) {
  unsigned char len[4];
  co_await stream.read(asio::buffer(len, 4));
  uint32_t n = (uint32_t(len[0]) << 24) | (uint32_t(len[1]) << 16) | (uint32_t(len[2]) << 8) |
               uint32_t(len[3]);
  if (n > frame_bytes_max) {
    throw std::runtime_error("frame of " + std::to_string(n) + " bytes exceeds frame_bytes_max " +
                             std::to_string(frame_bytes_max));
  }
  std::string body(n, '\0');
  co_await stream.read(asio::buffer(body));
  PeerFrame frame;
  if (!frame.ParseFromString(body)) throw std::runtime_error("frame does not parse");
  co_return frame;
}

using SteadyClock = std::chrono::steady_clock;

}  // namespace

// Where a connection's coroutine is: set before each await, so a connection
// whose coroutine never resumes shows the await it is parked on.
struct Stage {
  const char* name = "starting";
  SteadyClock::time_point since = SteadyClock::now();
  void enter(const char* n) {
    name = n;
    since = SteadyClock::now();
  }
};

struct Inbound {
  std::shared_ptr<PeerStream> sock;
  NodeId from;
  std::string remote;
  Stage stage;
  uint64_t frames = 0;
};

struct Peer {
  NodeId id;
  std::string address;
  std::deque<std::string> queue;  // encoded frames
  uint64_t queued_bytes = 0;      // sum of queue's sizes
  std::unique_ptr<asio::steady_timer> wake;
  std::shared_ptr<PeerStream> socket;
  bool connected = false;
  bool running = false;
  bool removed = false;
  std::string last_error;  // logged once per distinct error, not per retry
  Stage stage;
  uint64_t frames = 0;  // written
};

struct Transport::Impl : std::enable_shared_from_this<Transport::Impl> {
  asio::io_context& io;
  TransportOptions opts;
  TransportHandlers handlers;
  tcp::acceptor acceptor;
  std::map<NodeId, std::shared_ptr<Peer>> peers;
  std::set<std::shared_ptr<Inbound>> inbound;
  bool stopped = false;
  // Inbound refusals (TLS or handshake) repeat at every redial of the
  // refused peer: the same reason from the same host is logged once a minute.
  std::map<std::string, std::chrono::steady_clock::time_point> refusals_logged;

  Impl(asio::io_context& io_, TransportOptions o, TransportHandlers h)
      : io(io_), opts(std::move(o)), handlers(std::move(h)), acceptor(io_) {}

  Handshake my_handshake() const {
    Handshake hs;
    hs.set_cluster_id(opts.cluster_id.value());
    hs.set_sender_id(opts.self.value());
    hs.set_protocol_version(kPeerProtocolVersion);
    hs.set_sender_name(opts.self_name);
    hs.set_client_url(opts.self_client_url);
    hs.set_peer_address(opts.self_peer_address);
    return hs;
  }

  // Empty when acceptable; else the reason to close.
  std::string check_handshake(const Handshake& hs) const {
    if (hs.cluster_id() != opts.cluster_id.value()) {
      return fmt::format("peer {} ({}) belongs to cluster {:016x}, this node to {:016x}",
                         hs.sender_id(), hs.sender_name(), hs.cluster_id(),
                         opts.cluster_id.value());
    }
    if (hs.protocol_version() != kPeerProtocolVersion) {
      return fmt::format("peer {} speaks protocol {}, this node {}", hs.sender_id(),
                         hs.protocol_version(), kPeerProtocolVersion);
    }
    if (hs.sender_id() == 0) return "peer sent node id 0";
    return {};
  }

  void add_peer(NodeId id, const std::string& host_port) {
    auto p = std::make_shared<Peer>();
    p->id = id;
    p->address = host_port;
    p->wake = std::make_unique<asio::steady_timer>(io);
    peers[id] = p;
  }

  awaitable<void> accept_loop() {
    auto self = shared_from_this();
    while (!stopped) {
      auto sock = std::make_shared<PeerStream>(io, opts.tls);
      boost::system::error_code ec;
      co_await acceptor.async_accept(sock->socket(), asio::redirect_error(use_awaitable, ec));
      if (ec) {
        if (stopped) co_return;
        continue;
      }
      sock->socket().set_option(tcp::no_delay(true), ec);
      auto conn = std::make_shared<Inbound>();
      conn->sock = sock;
      conn->remote = endpoint_of(sock->socket());
      inbound.insert(conn);
      asio::co_spawn(io, serve_inbound(conn), asio::detached);
    }
  }

  void log_refusal(PeerStream& sock, const std::string& why) {
    std::string from = endpoint_of(sock.socket());
    std::string key = from.substr(0, from.rfind(':')) + " " + why;
    auto now = std::chrono::steady_clock::now();
    auto [it, fresh] = refusals_logged.try_emplace(key, now);
    if (!fresh && now - it->second < std::chrono::minutes(1)) return;
    it->second = now;
    if (refusals_logged.size() > 1024) refusals_logged.clear();  // bounded
    log()->error("refusing peer connection from {}: {}", from, why);
  }

  awaitable<void> serve_inbound(std::shared_ptr<Inbound> conn) {
    auto self = shared_from_this();
    std::shared_ptr<PeerStream> sock = conn->sock;
    NodeId from;
    try {
      // A peer that stalls its TLS handshake cannot hold the connection.
      asio::steady_timer deadline(io, std::chrono::seconds(5));
      deadline.async_wait([sock](boost::system::error_code ec) {
        if (!ec) sock->cancel();
      });
      std::string tls_error;
      try {
        conn->stage.enter("tls handshake");
        co_await sock->handshake_as_server();
      } catch (const std::exception& e) {
        tls_error = e.what();
      }
      deadline.cancel();
      if (!tls_error.empty()) {
        if (tls_error.find("certificate verify failed") != std::string::npos) {
          tls_error += " (is its certificate signed by --peer-ca?)";
        }
        log_refusal(*sock, tls_error);
        throw std::runtime_error("");
      }
      conn->stage.enter("reading handshake");
      PeerFrame first = co_await read_frame(*sock, opts.frame_bytes_max);
      PeerFrame reply;
      *reply.mutable_handshake() = my_handshake();
      std::string bytes = frame_bytes(reply);
      std::vector<asio::const_buffer> reply_bufs{asio::buffer(bytes)};
      conn->stage.enter("writing handshake");
      co_await sock->write(reply_bufs);
      if (!first.has_handshake()) throw std::runtime_error("first frame is not a handshake");
      if (auto why = check_handshake(first.handshake()); !why.empty()) {
        log_refusal(*sock, why);
        throw std::runtime_error("");
      }
      from = NodeId(first.handshake().sender_id());
      conn->from = from;
      // A peer we have no address for (we joined and have not learnt the
      // membership yet) can still be answered at the address it gave.
      if (!peers.count(from) && !first.handshake().peer_address().empty()) {
        add_peer(from, first.handshake().peer_address());
      }
      if (handlers.on_hello) {
        handlers.on_hello(from, first.handshake().sender_name(), first.handshake().client_url());
      }
      while (!stopped) {
        conn->stage.enter("reading frame");
        PeerFrame frame = co_await read_frame(*sock, opts.frame_bytes_max);
        conn->stage.enter("handling frame");
        conn->frames++;
        if (handlers.on_frame) handlers.on_frame(from, std::move(frame));
      }
    } catch (const std::exception& e) {
      std::string what = e.what();
      if (!stopped && !what.empty() && what.find("End of file") == std::string::npos &&
          what.find("stream truncated") == std::string::npos &&
          what.find("Operation canceled") == std::string::npos) {
        log()->warn("peer connection from node {} closed: {}", from.value(), what);
      }
    }
    sock->close();
    inbound.erase(conn);
  }

  static std::string endpoint_of(const tcp::socket& s) {
    boost::system::error_code ec;
    auto ep = s.remote_endpoint(ec);
    return ec ? "?" : ep.address().to_string() + ":" + std::to_string(ep.port());
  }

  awaitable<void> connect(Peer& p) {
    auto colon = p.address.rfind(':');
    if (colon == std::string::npos) throw std::runtime_error("address has no port: " + p.address);
    tcp::resolver resolver(io);
    auto results = co_await resolver.async_resolve(p.address.substr(0, colon),
                                                   p.address.substr(colon + 1), use_awaitable);
    p.socket = std::make_shared<PeerStream>(io, opts.tls);
    // One deadline for connect + handshake: on expiry it cancels the socket's
    // operations, which then fail with operation_aborted.
    asio::steady_timer deadline(io, std::chrono::seconds(2));
    auto expired = std::make_shared<bool>(false);
    deadline.async_wait([sock = p.socket, expired](boost::system::error_code ec) {
      if (ec) return;
      *expired = true;
      sock->cancel();
    });
    boost::system::error_code ec;
    co_await asio::async_connect(p.socket->socket(), results,
                                 asio::redirect_error(use_awaitable, ec));
    if (ec) throw std::runtime_error(*expired ? "connect timed out" : ec.message());
    p.socket->socket().set_option(tcp::no_delay(true), ec);
    std::string host = p.address.substr(0, colon);
    co_await p.socket->handshake_as_client(host);
    if (*expired) throw std::runtime_error("TLS handshake timed out");
    PeerFrame hello;
    *hello.mutable_handshake() = my_handshake();
    std::string bytes = frame_bytes(hello);
    std::vector<asio::const_buffer> hello_bufs{asio::buffer(bytes)};
    co_await p.socket->write(hello_bufs);
    PeerFrame f = co_await read_frame(*p.socket, opts.frame_bytes_max);
    if (*expired) throw std::runtime_error("handshake timed out");
    if (!f.has_handshake()) throw std::runtime_error("peer did not answer with a handshake");
    if (auto why = check_handshake(f.handshake()); !why.empty()) {
      throw std::runtime_error("refused: " + why);
    }
  }

  awaitable<void> run_peer(std::shared_ptr<Peer> p) {
    auto self = shared_from_this();
    auto backoff = opts.backoff_min;
    while (!stopped && !p->removed) {
      if (p->queue.empty()) {
        p->stage.enter("idle");
        boost::system::error_code ec;
        p->wake->expires_at(asio::steady_timer::time_point::max());
        co_await p->wake->async_wait(asio::redirect_error(use_awaitable, ec));
        continue;
      }
      std::string failure;
      try {
        if (!p->connected) {
          p->stage.enter("connecting");
          co_await connect(*p);
          p->connected = true;
          if (!p->last_error.empty())
            log()->info("connected to peer {} at {}", p->id.value(), p->address);
          p->last_error.clear();
          backoff = opts.backoff_min;
        }
        while (!p->queue.empty() && !stopped) {
          // Gather what is queued into one write: fewer syscalls under load.
          std::vector<std::string> batch;
          size_t bytes = 0;
          while (!p->queue.empty() && batch.size() < 256 && bytes < (4u << 20)) {
            bytes += p->queue.front().size();
            p->queued_bytes -= p->queue.front().size();
            batch.push_back(std::move(p->queue.front()));
            p->queue.pop_front();
          }
          std::vector<asio::const_buffer> bufs;
          for (const auto& b : batch) bufs.push_back(asio::buffer(b));
          p->stage.enter("writing");
          co_await p->socket->write(bufs);
          p->frames += batch.size();
        }
      } catch (const boost::system::system_error& e) {
        // Over TLS this is where the other side's refusal of our
        // certificate shows (TLS 1.3 finishes our handshake first).
        failure = tls_failure(nullptr, e.code());
      } catch (const std::exception& e) {
        failure = e.what();
      }
      if (failure.empty()) continue;
      // (No co_await inside a catch handler: handle the failure here.)
      p->connected = false;
      if (p->socket) p->socket->close();
      if (stopped || p->removed) break;
      if (failure != p->last_error) {
        log()->warn("peer {} at {}: {} (retrying with backoff)", p->id.value(), p->address,
                    failure);
        p->last_error = failure;
      }
      p->queue.clear();
      p->queued_bytes = 0;
      if (handlers.on_unreachable) handlers.on_unreachable(p->id);
      asio::steady_timer t(io, backoff);
      p->stage.enter("backoff");
      boost::system::error_code ec;
      co_await t.async_wait(asio::redirect_error(use_awaitable, ec));
      backoff = std::min(backoff * 2, opts.backoff_max);
    }
    p->running = false;
    p->stage.enter("stopped");
  }
};

common::Result<std::unique_ptr<Transport>> Transport::start(asio::io_context& io,
                                                            TransportOptions options,
                                                            TransportHandlers handlers) {
  auto impl = std::make_shared<Impl>(io, std::move(options), std::move(handlers));
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(impl->opts.listen_host, ec);
  if (ec) {
    return common::Status(common::Code::kInvalidArgument,
                          "peer listen host '" + impl->opts.listen_host + "' is not an IP address");
  }
  tcp::endpoint ep(addr, impl->opts.listen_port);
  impl->acceptor.open(ep.protocol(), ec);
  if (!ec) impl->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(ep, ec);
  if (!ec) impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return common::Status(common::Code::kUnavailable,
                          "cannot listen for peers on " + impl->opts.listen_host + ":" +
                              std::to_string(impl->opts.listen_port) + ": " + ec.message());
  }
  asio::co_spawn(io, impl->accept_loop(), asio::detached);
  return std::unique_ptr<Transport>(new Transport(impl));
}

Transport::Transport(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
Transport::~Transport() {
  stop();
}

uint16_t Transport::port() const {
  boost::system::error_code ec;
  auto ep = impl_->acceptor.local_endpoint(ec);
  return ec ? 0 : ep.port();
}

void Transport::set_peer(NodeId id, const std::string& host_port) {
  if (id == impl_->opts.self) return;
  auto& p = impl_->peers[id];
  if (p && p->address == host_port) return;
  if (p) {
    // Re-addressed: the old connection loop ends; a new one dials the new address.
    p->removed = true;
    if (p->wake) p->wake->cancel();
    if (p->socket) p->socket->close();
  }
  impl_->add_peer(id, host_port);
}

void Transport::remove_peer(NodeId id) {
  auto it = impl_->peers.find(id);
  if (it == impl_->peers.end()) return;
  it->second->removed = true;
  if (it->second->wake) it->second->wake->cancel();
  if (it->second->socket) it->second->socket->close();
  impl_->peers.erase(it);
}

void Transport::send(NodeId to, PeerFrame frame) {
  if (impl_->stopped) return;
  auto it = impl_->peers.find(to);
  if (it == impl_->peers.end()) {
    if (impl_->handlers.on_unreachable) impl_->handlers.on_unreachable(to);
    return;
  }
  auto& p = it->second;
  std::string bytes = frame_bytes(frame);
  if (!p->queue.empty() && (p->queue.size() >= impl_->opts.frames_queued_max ||
                            p->queued_bytes + bytes.size() > impl_->opts.bytes_queued_max)) {
    // Raft tolerates the loss; the core probes the peer again.
    p->queue.clear();
    p->queued_bytes = 0;
    if (impl_->handlers.on_unreachable) impl_->handlers.on_unreachable(to);
  }
  p->queued_bytes += bytes.size();
  p->queue.push_back(std::move(bytes));
  if (!p->running) {
    p->running = true;
    asio::co_spawn(impl_->io, impl_->run_peer(p), asio::detached);
  } else if (p->wake) {
    p->wake->cancel();
  }
}

bool Transport::connected(NodeId id) const {
  auto it = impl_->peers.find(id);
  return it != impl_->peers.end() && it->second->connected;
}

void Transport::stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  boost::system::error_code ignored;
  impl_->acceptor.close(ignored);
  for (auto& [id, p] : impl_->peers) {
    p->removed = true;
    if (p->wake) p->wake->cancel();
    if (p->socket) p->socket->close();
  }
  for (auto& c : impl_->inbound) c->sock->close();
}

std::vector<ConnectionState> Transport::connections() const {
  auto now = SteadyClock::now();
  std::vector<ConnectionState> out;
  for (const auto& c : impl_->inbound) {
    ConnectionState s;
    s.inbound = true;
    s.peer = c->from;
    s.remote = c->remote;
    s.stage = c->stage.name;
    s.in_stage = now - c->stage.since;
    s.frames = c->frames;
    out.push_back(std::move(s));
  }
  for (const auto& [id, p] : impl_->peers) {
    ConnectionState s;
    s.peer = id;
    s.remote = p->address;
    s.stage = p->running ? p->stage.name : "not started";
    s.in_stage = now - p->stage.since;
    s.frames = p->frames;
    s.queued = p->queue.size();
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace api
