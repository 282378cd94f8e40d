// CRC32C (Castagnoli), the checksum of dump records: hardware (SSE4.2) when
// the CPU has it, else slice-by-8 tables. extend() continues a running CRC.
#pragma once

#include <cstdint>
#include <string_view>

namespace admin {

uint32_t crc32c_extend(uint32_t crc, std::string_view bytes);
inline uint32_t crc32c(std::string_view bytes) {
  return crc32c_extend(0, bytes);
}

}  // namespace admin
