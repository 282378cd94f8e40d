#include "common/yaml_json.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <boost/json.hpp>
#include <charconv>
#include <cstdint>
#include <sstream>

#include "common/utf8.h"

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

// Counts documents without building them. YAML::LoadAll cannot be used:
// yaml-cpp 0.7 loops forever on a stray top-level ',' (each call of
// HandleNextDocument yields another empty document without consuming it;
// found by fuzz_yaml_config), so the number of documents is asked for at
// most twice here.
class DocumentCounter : public YAML::EventHandler {
  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

// A key written without quotes reads back as the same string: keys are
// never typed (the converter takes their text), so only syntax matters.
bool plain_key(std::string_view k) {
  if (k.empty() || k.size() > 200) return false;
  auto word = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  };
  if (!word(k.front())) return false;
  for (char c : k) {
    if (!word(c) && c != '.' && c != '/' && c != '-') return false;
  }
  return true;
}

void emit(YAML::Emitter& out, const json::value& v) {
  switch (v.kind()) {
    case json::kind::object:
      out << YAML::BeginMap;
      for (const auto& [k, item] : v.get_object()) {
        // An implicit key is limited to 1024 characters (YAML 1.2, 7.4.2):
        // a longer one must be written "? key" or it does not read back
        // (found by fuzz_yaml_config). Counted after escaping: \x12 is 4.
        if (k.size() > 200) out << YAML::LongKey;  // escapes take up to 4x
        out << YAML::Key;
        if (!plain_key(k)) out << YAML::DoubleQuoted;
        out << std::string(k) << YAML::Value;
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
  // YAML is Unicode text; a stray byte would reach the JSON output as is
  // (found by fuzz_yaml_config: yaml-cpp passes it through in a scalar).
  if (!valid_utf8(yaml)) return bad("the YAML is not valid UTF-8");
  // NUL is not a YAML character, and NULs at the start make yaml-cpp read
  // the text as UTF-16/32 (its encoding detection), which then decodes to
  // invalid UTF-8 (found by fuzz_yaml_config).
  if (yaml.find('\0') != std::string_view::npos) return bad("the YAML holds a NUL byte");
  std::string text(yaml);
  YAML::Node doc;
  try {
    std::istringstream in(text);
    YAML::Parser parser(in);
    DocumentCounter counter;
    int docs = 0;
    while (docs < 2 && parser.HandleNextDocument(counter)) docs++;
    if (docs == 0) return bad("the YAML is empty");
    if (docs > 1) {
      return bad(
          "the YAML holds more than one document ('---', or a stray ',' at the top "
          "level); give one");
    }
    doc = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    // e.what() carries "yaml-cpp: error at line L, column C: why".
    return bad(std::string("not valid YAML: ") + e.what());
  } catch (const std::exception& e) {
    return bad(std::string("not valid YAML: ") + e.what());
  }
  try {
    Converter c{limits};
    auto v = c.convert(doc, 0);
    if (!v.is_ok()) return v.status();
    std::string out = json::serialize(*v);
    // Belt and braces: whatever yaml-cpp decoded must read back as JSON.
    if (!valid_utf8(out)) return bad("the YAML decodes to text that is not valid UTF-8");
    return out;
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
