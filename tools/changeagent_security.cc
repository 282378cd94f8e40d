#include "tools/changeagent_security.h"

#include <spdlog/spdlog.h>

#include <boost/asio/signal_set.hpp>
#include <csignal>

namespace changeagent {

namespace po = boost::program_options;
using common::Code;
using common::Status;

void add_security_flags(po::options_description& desc) {
  api::HttpOptions d;  // the defaults
  desc.add_options()("auth-file", po::value<std::string>(),
                     "htpasswd file (bcrypt, `htpasswd -B`): the client API then needs basic auth; "
                     "re-read on SIGHUP or when it changes")(
      "auth-roles", po::value<std::string>(),
      "user:role lines (read|write|admin; *:role for everyone else, default read); "
      "without it every user is admin")(
      "auth-cn-map", po::value<std::string>(),
      "CN:user lines: a verified TLS client certificate with that CN is that user")(
      "max-connections", po::value<uint32_t>()->default_value(d.connections_max),
      "open client connections; more are answered 503 and closed")(
      "max-header-bytes", po::value<uint32_t>()->default_value(d.header_bytes_max),
      "request line + headers; more is 431")(
      "longpoll-waiters-max", po::value<uint32_t>()->default_value(d.longpoll_waiters_max),
      "long-polls + SSE streams in all; more is 503")(
      "longpoll-waiters-per-client-max",
      po::value<uint32_t>()->default_value(d.longpoll_waiters_per_client_max),
      "long-polls + SSE streams from one client IP; more is 429")(
      "idle-timeout-seconds", po::value<uint32_t>()->default_value(d.idle_timeout.count()),
      "an idle keep-alive connection is closed after this; also the body's deadline")(
      "header-timeout-seconds", po::value<uint32_t>()->default_value(d.header_timeout.count()),
      "a request's headers must arrive within this of its first byte (slow loris)");
}

Status apply_security_flags(const po::variables_map& vm, api::HttpOptions& opts) {
  opts.connections_max = vm["max-connections"].as<uint32_t>();
  opts.header_bytes_max = vm["max-header-bytes"].as<uint32_t>();
  opts.longpoll_waiters_max = vm["longpoll-waiters-max"].as<uint32_t>();
  opts.longpoll_waiters_per_client_max = vm["longpoll-waiters-per-client-max"].as<uint32_t>();
  opts.idle_timeout = std::chrono::seconds(vm["idle-timeout-seconds"].as<uint32_t>());
  opts.header_timeout = std::chrono::seconds(vm["header-timeout-seconds"].as<uint32_t>());
  if (opts.connections_max == 0)
    return Status(Code::kInvalidArgument, "--max-connections must be > 0");
  if (opts.longpoll_waiters_per_client_max == 0) {
    return Status(Code::kInvalidArgument, "--longpoll-waiters-per-client-max must be > 0");
  }
  if (opts.idle_timeout.count() == 0 || opts.header_timeout.count() == 0) {
    return Status(Code::kInvalidArgument,
                  "--idle-timeout-seconds and --header-timeout-seconds must be > 0");
  }
  bool any_auth = vm.count("auth-roles") || vm.count("auth-cn-map");
  if (!vm.count("auth-file")) {
    if (any_auth) {
      return Status(Code::kInvalidArgument, "--auth-roles and --auth-cn-map need --auth-file");
    }
    return Status::ok();
  }
  api::AuthOptions ao;
  ao.files.users_path = vm["auth-file"].as<std::string>();
  if (vm.count("auth-roles")) ao.files.roles_path = vm["auth-roles"].as<std::string>();
  if (vm.count("auth-cn-map")) ao.files.cn_map_path = vm["auth-cn-map"].as<std::string>();
  auto auth = api::Authenticator::create(std::move(ao));
  if (!auth.is_ok()) return auth.status();
  opts.auth = std::move(*auth);
  return Status::ok();
}

namespace {

struct HupWatch {
  HupWatch(boost::asio::io_context& io, std::shared_ptr<api::Authenticator> a)
      : signals(io, SIGHUP), auth(std::move(a)) {}
  void arm() {
    signals.async_wait([this](boost::system::error_code ec, int) {
      if (ec) return;  // cancelled at shutdown
      spdlog::info("SIGHUP: re-reading the auth files");
      (void)auth->reload();  // logs its outcome
      arm();
    });
  }
  boost::asio::signal_set signals;
  std::shared_ptr<api::Authenticator> auth;
};

}  // namespace

std::shared_ptr<void> reload_auth_on_sighup(boost::asio::io_context& io,
                                            std::shared_ptr<api::Authenticator> auth) {
  if (!auth) return nullptr;
  auto w = std::make_shared<HupWatch>(io, std::move(auth));
  w->arm();
  return w;
}

}  // namespace changeagent
