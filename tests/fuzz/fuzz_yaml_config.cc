// libFuzzer target: a PUT /config body sent as YAML (common/yaml_json.h,
// then the config parser, api/cluster_config.h), as the server runs them.
// Beyond "no crash": the converter's bounds hold, and what it accepts is
// JSON that the config parser can read (or refuse) and that reads back
// the same through json_to_yaml.
#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "api/cluster_config.h"
#include "common/yaml_json.h"

namespace {

namespace json = boost::json;

// Equal, but doubles within a relative 1e-14: Boost.JSON 1.81 parses
// decimals imprecisely (an ulp off), so a double need not survive
// serialize -> parse bit for bit; that is not the converter's doing.
bool same(const json::value& a, const json::value& b) {
  if (a.is_double() || b.is_double()) {
    if (!a.is_number() || !b.is_number()) return false;
    double x = a.to_number<double>(), y = b.to_number<double>();
    return x == y || std::fabs(x - y) <= 1e-14 * std::max(std::fabs(x), std::fabs(y));
  }
  if (a.kind() != b.kind()) return false;
  if (a.is_object()) {
    const auto& o = a.get_object();
    const auto& p = b.get_object();
    if (o.size() != p.size()) return false;
    for (const auto& [k, v] : o) {
      const json::value* w = p.if_contains(k);
      if (w == nullptr || !same(v, *w)) return false;
    }
    return true;
  }
  if (a.is_array()) {
    const auto& x = a.get_array();
    const auto& y = b.get_array();
    if (x.size() != y.size()) return false;
    for (size_t i = 0; i < x.size(); i++) {
      if (!same(x[i], y[i])) return false;
    }
    return true;
  }
  return a == b;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  common::YamlLimits limits;
  limits.max_nodes = 5000;
  auto json_text = common::yaml_to_json(text, limits);
  if (!json_text.is_ok()) return 0;
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(*json_text, ec);
  if (ec) __builtin_trap();  // the converter must produce JSON
  (void)api::parse_config_patch(*json_text);
  auto yaml = common::json_to_yaml(*json_text);
  if (!yaml.is_ok()) __builtin_trap();
  auto back = common::yaml_to_json(*yaml, limits);
  if (!back.is_ok() || !same(boost::json::parse(*back), v)) __builtin_trap();  // round trip
  return 0;
}
