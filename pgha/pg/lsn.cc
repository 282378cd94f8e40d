#include "pgha/pg/lsn.h"

#include <charconv>
#include <cstdio>

namespace pgha::pg {

std::optional<uint64_t> parse_lsn(std::string_view text) {
  auto slash = text.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 >= text.size()) return {};
  uint32_t hi = 0, lo = 0;
  auto [e1, ec1] = std::from_chars(text.data(), text.data() + slash, hi, 16);
  auto [e2, ec2] = std::from_chars(text.data() + slash + 1, text.data() + text.size(), lo, 16);
  if (ec1 != std::errc() || e1 != text.data() + slash) return {};
  if (ec2 != std::errc() || e2 != text.data() + text.size()) return {};
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

std::string format_lsn(uint64_t lsn) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%X/%X", static_cast<unsigned>(lsn >> 32),
                static_cast<unsigned>(lsn & 0xffffffffu));
  return buf;
}

}  // namespace pgha::pg
