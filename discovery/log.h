// The "discovery" spdlog logger (a clone of the default logger, so it keeps
// the process's sinks and pattern).
#pragma once

#include <spdlog/spdlog.h>

#include <memory>

namespace discovery {

inline std::shared_ptr<spdlog::logger> logger() {
  if (auto log = spdlog::get("discovery")) return log;
  auto log = spdlog::default_logger()->clone("discovery");
  try {
    spdlog::register_logger(log);
  } catch (const spdlog::spdlog_ex&) {
    return spdlog::get("discovery");
  }
  return log;
}

}  // namespace discovery
