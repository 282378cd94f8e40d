#include "storage/rocks_log.h"

#include <rocksdb/env.h>
#include <spdlog/spdlog.h>

#include <cstdarg>
#include <cstdio>
#include <string>

#include "common/logger.h"

namespace storage {

namespace {

class NodeLogForwarder : public rocksdb::Logger {
 public:
  NodeLogForwarder()
      : rocksdb::Logger(rocksdb::InfoLogLevel::WARN_LEVEL),
        log_(common::component_logger("rocksdb")) {}

  // Lines without a level are info lines: dropped (see rocks_log.h).
  void Logv(const char*, va_list) override {}

  void Logv(const rocksdb::InfoLogLevel level, const char* format, va_list ap) override {
    // HEADER_LEVEL is the options dump at open, above FATAL in the enum.
    if (level < rocksdb::InfoLogLevel::WARN_LEVEL || level > rocksdb::InfoLogLevel::FATAL_LEVEL) {
      return;
    }
    char buf[1024];
    int n = std::vsnprintf(buf, sizeof buf, format, ap);
    if (n < 0) return;
    std::string line(buf, std::min(static_cast<size_t>(n), sizeof buf - 1));
    while (!line.empty() && (line.back() == '\n' || line.back() == ' ')) line.pop_back();
    if (level == rocksdb::InfoLogLevel::WARN_LEVEL) {
      log_->warn("{}", line);
    } else if (level == rocksdb::InfoLogLevel::ERROR_LEVEL) {
      log_->error("{}", line);
    } else {
      log_->critical("{}", line);
    }
  }

 private:
  std::shared_ptr<spdlog::logger> log_;
};

}  // namespace

std::shared_ptr<rocksdb::Logger> rocksdb_to_node_log() {
  return std::make_shared<NodeLogForwarder>();
}

}  // namespace storage
