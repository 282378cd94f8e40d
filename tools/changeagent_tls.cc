#include "tools/changeagent_tls.h"

#include <spdlog/spdlog.h>

#include <boost/asio/signal_set.hpp>

namespace tools {

namespace po = boost::program_options;
using common::Code;
using common::Status;

void add_tls_options(po::options_description& desc) {
  desc.add_options()("listen-client-https", po::value<std::string>(),
                     "host:port for the HTTPS API (needs --cert, --key); the plain "
                     "--listen-client then runs only if given explicitly")(
      "cert", po::value<std::string>(), "PEM certificate chain the HTTPS API presents")(
      "key", po::value<std::string>(), "PEM private key of --cert")(
      "ca", po::value<std::string>(),
      "PEM CA that client certificates must chain to (verified when offered)")(
      "client-cert-auth", po::value<bool>()->default_value(false)->implicit_value(true),
      "HTTPS clients must present a certificate signed by --ca")(
      "peer-cert", po::value<std::string>(),
      "PEM certificate this node presents to peers (mutual TLS)")(
      "peer-key", po::value<std::string>(), "PEM private key of --peer-cert")(
      "peer-ca", po::value<std::string>(), "PEM CA that peers' certificates must chain to")(
      "webhook-ca", po::value<std::string>(),
      "PEM CA(s) that https validator webhooks' certificates must chain to (default: the "
      "system's CAs)")("webhook-cert", po::value<std::string>(),
                       "PEM certificate this node presents to https webhooks (optional)")(
      "webhook-key", po::value<std::string>(), "PEM private key of --webhook-cert");
}

namespace {

std::string flag(const po::variables_map& vm, const char* name) {
  return vm.count(name) ? vm[name].as<std::string>() : std::string();
}

}  // namespace

common::Result<TlsSetup> tls_from_flags(const po::variables_map& vm) {
  TlsSetup out;
  api::TlsFiles client{flag(vm, "cert"), flag(vm, "key"), flag(vm, "ca")};
  bool client_auth = vm["client-cert-auth"].as<bool>();
  out.https_listen = flag(vm, "listen-client-https");
  if (out.https_listen.empty()) {
    if (!client.cert.empty() || !client.key.empty() || client_auth) {
      return Status(Code::kInvalidArgument,
                    "--cert, --key and --client-cert-auth configure the HTTPS API: give "
                    "--listen-client-https host:port too");
    }
  } else {
    if (client.cert.empty() || client.key.empty()) {
      return Status(Code::kInvalidArgument, "--listen-client-https needs --cert and --key");
    }
    if (client_auth && client.ca.empty()) {
      return Status(Code::kInvalidArgument,
                    "--client-cert-auth needs --ca, the CA client certificates must chain to");
    }
    auto ctx = api::TlsContext::load(client, api::TlsRole::kServer, client_auth);
    if (!ctx.is_ok()) return ctx.status();
    out.client = std::move(*ctx);
    out.plain_http = !vm["listen-client"].defaulted();
    out.client_ca = client.ca;
    out.client_cert = client.cert;
    out.client_key = client.key;
  }
  api::TlsFiles peer{flag(vm, "peer-cert"), flag(vm, "peer-key"), flag(vm, "peer-ca"),
                     "--peer-cert",         "--peer-key",         "--peer-ca"};
  if (!peer.cert.empty() || !peer.key.empty() || !peer.ca.empty()) {
    if (peer.cert.empty() || peer.key.empty() || peer.ca.empty()) {
      return Status(Code::kInvalidArgument,
                    "peer TLS needs all of --peer-cert, --peer-key and --peer-ca");
    }
    auto ctx = api::TlsContext::load(peer, api::TlsRole::kPeer, true);
    if (!ctx.is_ok()) return ctx.status();
    out.peer = std::move(*ctx);
  }
  api::TlsFiles webhook{flag(vm, "webhook-cert"), flag(vm, "webhook-key"), flag(vm, "webhook-ca"),
                        "--webhook-cert",         "--webhook-key",         "--webhook-ca"};
  auto hook_ctx = api::make_client_tls_context(webhook);
  if (!hook_ctx.is_ok()) return hook_ctx.status();
  out.webhook = std::move(*hook_ctx);
  return out;
}

namespace {

void reload_one(const std::shared_ptr<api::TlsContext>& ctx, const char* what) {
  if (!ctx) return;
  if (Status s = ctx->reload(); s.is_ok()) {
    spdlog::info("SIGHUP: reloaded the {} certificate ({}); new connections use it", what,
                 ctx->description());
  } else {
    spdlog::error("SIGHUP: kept the previous {} certificate: {}", what, s.message());
  }
}

void wait_for_hup(std::shared_ptr<boost::asio::signal_set> signals, TlsSetup setup) {
  signals->async_wait([signals, setup](boost::system::error_code ec, int) {
    if (ec) return;
    reload_one(setup.client, "client API");
    reload_one(setup.peer, "peer");
    wait_for_hup(signals, setup);
  });
}

}  // namespace

void reload_tls_on_sighup(boost::asio::io_context& io, const TlsSetup& setup) {
  auto signals = std::make_shared<boost::asio::signal_set>(io, SIGHUP);
  if (setup.client) {
    spdlog::info("HTTPS certificate: {}", setup.client->description());
  }
  if (setup.peer) spdlog::info("peer certificate: {}", setup.peer->description());
  wait_for_hup(signals, setup);
}

}  // namespace tools
