#include "common/yaml_json.h"

#include <yaml-cpp/yaml.h>

#include <boost/json.hpp>
#include <charconv>
#include <cstdint>
#include <set>

namespace common {

namespace json = boost::json;

namespace {

Status bad(std::string msg) {
  return Status(Code::kInvalidArgument, std::move(msg));
}

// -?digits(.digits)?([eE][+-]?digits)? : JSON's number grammar without the
// leading-zero rule. Anything else (inf, nan, hex, 1_000) is not a number.
bool json_number_shape(std::string_view s) {
  size_t i = 0;
  auto digits = [&] {
    size_t start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') i++;
    return i > start;
  };
  if (i < s.size() && s[i] == '-') i++;
  if (!digits()) return false;
  if (i < s.size() && s[i] == '.') {
    i++;
    if (!digits()) return false;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    i++;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) i++;
    if (!digits()) return false;
  }
  return i == s.size();
}

json::value scalar(const YAML::Node& n) {
  const std::string& s = n.Scalar();
  // "!" = quoted (non-plain) scalar; an explicit !!str tag resolves to this.
  if (n.Tag() == "!" || n.Tag() == "tag:yaml.org,2002:str") return json::string(s);
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (json_number_shape(s)) {
    const char* end = s.data() + s.size();
    int64_t i = 0;
    if (auto r = std::from_chars(s.data(), end, i); r.ec == std::errc() && r.ptr == end) return i;
    uint64_t u = 0;
    if (auto r = std::from_chars(s.data(), end, u); r.ec == std::errc() && r.ptr == end) return u;
    double d = 0;
    if (auto r = std::from_chars(s.data(), end, d); r.ec == std::errc() && r.ptr == end) return d;
  }
  return json::string(s);
}

struct Converter {
  const YamlLimits& limits;
  size_t nodes = 0;

  Result<json::value> convert(const YAML::Node& n, size_t depth) {
    if (++nodes > limits.max_nodes) {
      return bad("the YAML expands to more than " + std::to_string(limits.max_nodes) +
                 " values (aliases included)");
    }
    if (depth >= limits.max_depth) {
      return bad("the YAML nests deeper than " + std::to_string(limits.max_depth) + " levels");
    }
    switch (n.Type()) {
      case YAML::NodeType::Null:
        return json::value(nullptr);
      case YAML::NodeType::Scalar:
        return scalar(n);
      case YAML::NodeType::Sequence: {
        json::array a;
        for (const auto& item : n) {
          auto v = convert(item, depth + 1);
          if (!v.is_ok()) return v.status();
          a.push_back(std::move(*v));
        }
        return json::value(std::move(a));
      }
      case YAML::NodeType::Map: {
        json::object o;
        for (const auto& kv : n) {
          if (!kv.first.IsScalar()) {
            return bad("line " + std::to_string(kv.first.Mark().line + 1) +
                       ": a map key must be a plain value, not a map or a list");
          }
          const std::string& key = kv.first.Scalar();
          if (o.contains(key)) {
            return bad("line " + std::to_string(kv.first.Mark().line + 1) + ": duplicate key '" +
                       key + "'");
          }
          auto v = convert(kv.second, depth + 1);
          if (!v.is_ok()) return v.status();
          o[key] = std::move(*v);
        }
        return json::value(std::move(o));
      }
      case YAML::NodeType::Undefined:
        break;
    }
    return bad("the YAML holds an undefined value");
  }
};

void emit(YAML::Emitter& out, const json::value& v) {
  switch (v.kind()) {
    case json::kind::object:
      out << YAML::BeginMap;
      for (const auto& [k, item] : v.get_object()) {
        out << YAML::Key << std::string(k) << YAML::Value;
        emit(out, item);
      }
      out << YAML::EndMap;
      break;
    case json::kind::array:
      out << YAML::BeginSeq;
      for (const auto& item : v.get_array()) emit(out, item);
      out << YAML::EndSeq;
      break;
    case json::kind::string:
      out << YAML::DoubleQuoted << std::string(v.get_string());
      break;
    case json::kind::null:
      out << YAML::Null;
      break;
    default:  // numbers and booleans: their JSON spelling is valid plain YAML
      out << json::serialize(v);
      break;
  }
}

}  // namespace

Result<std::string> yaml_to_json(std::string_view yaml, const YamlLimits& limits) {
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAll(std::string(yaml));
  } catch (const YAML::Exception& e) {
    // e.what() carries "yaml-cpp: error at line L, column C: why".
    return bad(std::string("not valid YAML: ") + e.what());
  } catch (const std::exception& e) {
    return bad(std::string("not valid YAML: ") + e.what());
  }
  if (docs.empty()) return bad("the YAML is empty");
  if (docs.size() > 1) {
    return bad("the YAML holds " + std::to_string(docs.size()) + " documents ('---'); give one");
  }
  try {
    Converter c{limits};
    auto v = c.convert(docs.front(), 0);
    if (!v.is_ok()) return v.status();
    return json::serialize(*v);
  } catch (const YAML::Exception& e) {
    return bad(std::string("not valid YAML: ") + e.what());
  }
}

Result<std::string> json_to_yaml(std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) return bad("not valid JSON: " + ec.message());
  YAML::Emitter out;
  emit(out, v);
  if (!out.good()) return bad("cannot render as YAML: " + out.GetLastError());
  return std::string(out.c_str()) + "\n";
}

bool looks_like_yaml(std::string_view text, std::string_view file_name) {
  if (file_name.ends_with(".yaml") || file_name.ends_with(".yml")) return true;
  if (file_name.ends_with(".json")) return false;
  size_t first = text.find_first_not_of(" \t\r\n");
  return first != std::string_view::npos && text[first] != '{' && text[first] != '[';
}

}  // namespace common
