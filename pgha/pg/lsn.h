// PostgreSQL WAL positions ("16/B374D848") as plain 64-bit numbers, so that
// the reconciler can compare and subtract them. 0 means "none" (a primary
// has no receive LSN; a replica that never received anything neither).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pgha::pg {

// nullopt for text that is not "X/Y" in hex.
std::optional<uint64_t> parse_lsn(std::string_view text);
std::string format_lsn(uint64_t lsn);

}  // namespace pgha::pg
