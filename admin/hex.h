// Node and cluster ids as changeagent-admin prints them: 16 hex digits.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace admin {

inline std::string hex16(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace admin
