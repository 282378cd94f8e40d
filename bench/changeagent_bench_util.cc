// Small helpers shared by the benchmark's loads and systems.
#include <algorithm>
#include <boost/json.hpp>
#include <cstdlib>

#include "bench/changeagent_bench.h"

namespace cabench {

namespace json = boost::json;

Latency latency_of(std::vector<uint32_t>& us) {
  Latency l;
  if (us.empty()) return l;
  std::sort(us.begin(), us.end());
  auto at = [&](double q) {
    size_t i = std::min(us.size() - 1, static_cast<size_t>(q * static_cast<double>(us.size())));
    return us[i] / 1000.0;
  };
  l.p50_ms = at(0.50);
  l.p99_ms = at(0.99);
  l.p999_ms = at(0.999);
  l.max_ms = us.back() / 1000.0;
  return l;
}

// JSON numbers, or decimal strings as grpc-gateway renders 64-bit integers.
uint64_t get_u64(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr) return 0;
  if (v->is_uint64()) return v->as_uint64();
  if (v->is_int64()) return static_cast<uint64_t>(v->as_int64());
  if (v->is_string()) return std::strtoull(v->as_string().c_str(), nullptr, 10);
  return 0;
}

Result<json::object> parse_object(const std::string& body) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec || !v.is_object()) {
    return Status(Code::kInternal, "answer is not a JSON object: " + body.substr(0, 200));
  }
  return std::move(v.as_object());
}

}  // namespace cabench
