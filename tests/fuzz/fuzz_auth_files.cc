// libFuzzer target: the parsers of the auth files an operator writes
// (api/auth_files.h: htpasswd, roles, CN map) and of base64. The first
// byte picks the parser.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "api/auth_files.h"
#include "api/basic_auth.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  api::AuthTables t;
  switch (data[0] % 4) {
    case 0:
      (void)api::parse_htpasswd(text, "fuzz", t);
      break;
    case 1:
      (void)api::parse_roles(text, "fuzz", t);
      break;
    case 2:
      (void)api::parse_cn_map(text, "fuzz", t);
      break;
    case 3: {
      auto d = api::base64_decode(text);
      if (d && api::base64_encode(*d) != text) __builtin_trap();  // canonical only
      break;
    }
  }
  return 0;
}
