// changectl config get|set: the replicated cluster config (GET/PUT /config).
//
//   config get                         the config, this node's effective
//                                      values and what waits for a restart
//   config set NAME=VALUE... [--revision N]
//                                      VALUE is JSON (50, null, [...]) or
//                                      else a plain string; null unsets
//   config set --file F|-  [--revision N]
//                                      the settings as a JSON object or
//                                      as YAML (by extension .yaml/.yml,
//                                      else by content), sent as JSON
//
// A set that lost a compare-and-set on --revision exits 4.
#include <boost/json.hpp>
#include <fstream>
#include <iostream>
#include <iterator>

#include "api/http_errors.h"
#include "common/yaml_json.h"
#include "tools/changectl.h"

namespace po = boost::program_options;
namespace json = boost::json;

namespace changectl {

namespace {

int print_answer(const api::HttpResponse& r, const Global& g) {
  if (r.status == 409) {
    std::cerr << "changectl: revision mismatch: " << r.body << "\n";
    return kExitRevisionMismatch;
  }
  if (r.status != 200) return fail(api::status_from_http(r.status, r.body));
  boost::system::error_code ec;
  json::value v = json::parse(r.body, ec);
  if (ec || !v.is_object() || g.format() == Format::kJson) {
    std::cout << r.body << "\n";
    return kExitOk;
  }
  const json::object& o = v.as_object();
  std::cout << "revision " << json::serialize(o.at("revision")) << " (applied index "
            << json::serialize(o.at("appliedIndex")) << ")\n";
  const json::object& set = o.at("config").as_object();
  for (const auto& [name, value] : o.at("effective").as_object()) {
    std::cout << "  " << std::string(name) << " = " << json::serialize(value)
              << (set.contains(name) ? "  (replicated)" : "  (node flag or default)") << "\n";
  }
  for (const auto& p : o.at("pendingRestart").as_array()) {
    std::cout << "  " << json::serialize(p) << ": the replicated value applies at this node's "
              << "next restart\n";
  }
  return kExitOk;
}

std::string read_text(const std::string& path) {
  if (path == "-") return std::string(std::istreambuf_iterator<char>(std::cin), {});
  std::ifstream in(path);
  if (!in) throw UsageError{"cannot read " + path};
  return std::string(std::istreambuf_iterator<char>(in), {});
}

int config_set(api::Client& c, const Global& g) {
  po::options_description desc("config set");
  desc.add_options()("setting", po::value<std::vector<std::string>>(), "NAME=VALUE")(
      "file", po::value<std::string>(), "a JSON object or YAML map of settings (- = stdin)")(
      "revision", po::value<std::string>(), "only if the config is still at this revision");
  po::positional_options_description pos;
  pos.add("setting", -1);
  auto vm = parse_sub(g.rest, desc, pos);
  json::object body;
  if (vm.count("file")) {
    if (vm.count("setting")) throw UsageError{"give NAME=VALUE settings or --file, not both"};
    const std::string& path = vm["file"].as<std::string>();
    std::string text = read_text(path);
    if (common::looks_like_yaml(text, path)) {
      auto converted = common::yaml_to_json(text);
      if (!converted.is_ok()) throw UsageError{path + ": " + converted.status().message()};
      text = std::move(*converted);
    }
    boost::system::error_code ec;
    json::value v = json::parse(text, ec);
    if (ec || !v.is_object()) {
      throw UsageError{"--file must hold a JSON object (or YAML map) of settings"};
    }
    body = v.as_object();
  } else if (vm.count("setting")) {
    for (const auto& s : vm["setting"].as<std::vector<std::string>>()) {
      size_t eq = s.find('=');
      if (eq == std::string::npos || eq == 0) throw UsageError{"'" + s + "' is not NAME=VALUE"};
      std::string value = s.substr(eq + 1);
      boost::system::error_code ec;
      json::value v = json::parse(value, ec);
      body[s.substr(0, eq)] = ec ? json::value(json::string(value)) : v;
    }
  } else {
    throw UsageError{"config set needs NAME=VALUE settings or --file"};
  }
  if (vm.count("revision")) {
    body["revision"] = parse_count(vm["revision"].as<std::string>(), "--revision");
  }
  auto r = c.request("PUT", "/config", json::serialize(body));
  if (!r.is_ok()) return fail(r.status());
  return print_answer(*r, g);
}

}  // namespace

int run_config(api::Client& c, const Global& g) {
  if (g.command == "get") {
    if (!g.rest.empty()) throw UsageError{"config get takes no arguments"};
    auto r = c.request("GET", "/config");
    if (!r.is_ok()) return fail(r.status());
    return print_answer(*r, g);
  }
  if (g.command == "set") return config_set(c, g);
  throw UsageError{"unknown command 'config " + g.command + "'; use config get|set"};
}

}  // namespace changectl
