// A component's spdlog logger ("[node]", "[http]", ...): the one registered
// under that name, else a clone of the default logger (its sinks and level)
// registered now, so every module's lines carry its name.
#pragma once

#include <spdlog/spdlog.h>

#include <memory>
#include <string>

namespace common {

inline std::shared_ptr<spdlog::logger> component_logger(const std::string& name) {
  if (auto l = spdlog::get(name)) return l;
  auto l = spdlog::default_logger()->clone(name);
  try {
    spdlog::register_logger(l);
  } catch (const spdlog::spdlog_ex&) {
    return spdlog::get(name);  // another thread registered it first
  }
  return l;
}

}  // namespace common
