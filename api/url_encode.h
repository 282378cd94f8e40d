// Percent-encoding of query values for the client library: everything but
// RFC 3986's unreserved characters is escaped. One copy for every caller.
#pragma once

#include <cctype>
#include <string>
#include <string_view>

namespace api {

inline std::string url_encode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace api
