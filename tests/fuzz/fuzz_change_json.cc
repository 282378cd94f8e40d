// libFuzzer target: the client-facing JSON decoders of changes, key writes,
// transactions and lease grants (api/change_json*.cc), and the client's
// decoders of the server's answers. The first byte picks the decoder.
// Anything may be refused; nothing may crash, hang, or trip a sanitizer.
// A value that decodes must render back to JSON that decodes again.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "api/change_json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  uint8_t which = data[0];
  std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (which % 10) {
    case 0:
    case 1: {
      auto b = api::parse_post_body(text, which % 10 == 1);
      if (b.is_ok() && !b->changes.empty() && !b->keyed) {
        auto again = api::render_change_inputs(b->changes);
        if (again.is_ok()) {
          auto back = api::parse_post_body(*again, true);
          if (!back.is_ok()) __builtin_trap();  // what we render, we must read
        }
      }
      break;
    }
    case 2:
      (void)api::parse_put_key_body("fuzz/key", text);
      break;
    case 3: {
      auto t = api::parse_txn_body(text);
      if (t.is_ok()) {
        auto again = api::render_txn_request(*t);
        if (again.is_ok() && !api::parse_txn_body(*again).is_ok()) __builtin_trap();
      }
      break;
    }
    case 4:
      (void)api::parse_lease_grant_body(text);
      break;
    case 5:
      (void)api::validate_key(text);
      (void)api::validate_json(text);
      break;
    case 6:
      (void)api::parse_change(text);
      (void)api::parse_feed(text);
      break;
    case 7:
      (void)api::parse_appended(text);
      (void)api::parse_cluster(text);
      break;
    case 8:
      (void)api::parse_members(text);
      (void)api::parse_diagnostics(text);
      break;
    case 9:
      (void)api::parse_txn_result(which & 0x10 ? 409 : 200, text, "k");
      break;
  }
  return 0;
}
