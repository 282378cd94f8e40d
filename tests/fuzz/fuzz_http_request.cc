// libFuzzer target: the HTTP request path of the client API. Bytes as they
// would arrive on a connection go through Beast's request parser with the
// server's limits (api/http_server.cc), then the router (api/http_router.cc:
// target and query parsing, JSON bodies, every route) against the
// FakeService test double, and the basic auth header parser. Each input
// gets a fresh service, so inputs do not depend on each other.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <cstddef>
#include <cstdint>

#include "api/basic_auth.h"
#include "api/http_router.h"
#include "tests/unit/api/fake_service.h"

namespace {

namespace http = boost::beast::http;

void route(const api::HttpRequest& req) {
  boost::asio::io_context io;
  api::test::FakeService svc(io);
  api::HttpOptions opts;
  opts.block_seconds_max = 0;  // long-polls answer at once: no waiting in a fuzzer
  api::HttpMetrics metrics;
  api::Waiters waiters(metrics.longpoll_waiters);
  api::Router router(svc, opts, metrics, waiters);
  bool done = false;
  boost::asio::co_spawn(io, router.route(req), [&](std::exception_ptr e, api::Routed out) {
    if (e) std::rethrow_exception(e);  // the router must never throw
    if (!out.sse && (out.reply.status < 200 || out.reply.status > 599)) __builtin_trap();
    done = true;
  });
  io.run();
  if (!done) __builtin_trap();  // every request gets an answer
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  http::request_parser<http::string_body> parser;
  parser.header_limit(16 * 1024);
  parser.body_limit(1 << 20);
  parser.eager(true);
  boost::beast::error_code ec;
  size_t used = parser.put(boost::asio::buffer(data, size), ec);
  (void)used;
  if (!ec && !parser.is_done()) parser.put_eof(ec);
  if (ec || !parser.is_done()) return 0;
  auto req = parser.release();
  api::HttpRequest r;
  r.method = std::string(req.method_string());
  r.target = std::string(req.target());
  for (const auto& field : req) {
    std::string name(field.name_string());
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    r.headers.emplace_back(std::move(name), std::string(field.value()));
  }
  r.body = std::move(req.body());
  r.remote_address = "127.0.0.1:1";
  if (const std::string* a = r.header("authorization")) (void)api::parse_basic_auth(*a);
  route(r);
  return 0;
}
