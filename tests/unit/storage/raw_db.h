// Direct RocksDB access for tests that inspect or damage a store on purpose
// (with the Store closed: RocksDB allows one writer per directory).
#pragma once

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "storage/keys.h"

namespace storage::testing {

class RawDb {
 public:
  explicit RawDb(const std::string& dir) {
    std::vector<std::string> names;
    EXPECT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), dir, &names).ok());
    std::vector<rocksdb::ColumnFamilyDescriptor> descs;
    for (const auto& n : names) descs.emplace_back(n, rocksdb::ColumnFamilyOptions());
    rocksdb::DB* db = nullptr;
    rocksdb::Status s = rocksdb::DB::Open(rocksdb::DBOptions(), dir, descs, &handles_, &db);
    EXPECT_TRUE(s.ok()) << s.ToString();
    db_.reset(db);
    for (size_t i = 0; i < names.size(); i++) by_name_[names[i]] = handles_[i];
  }
  ~RawDb() {
    for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h).PermitUncheckedError();
    db_->Close().PermitUncheckedError();
  }

  void put(const char* family, std::string_view key, std::string_view value) {
    rocksdb::WriteOptions wo;
    wo.sync = true;
    ASSERT_TRUE(db_->Put(wo, by_name_.at(family), key, value).ok());
  }

  // Indexes of the conf/ records in meta, ascending.
  std::vector<uint64_t> conf_indexes() {
    std::vector<uint64_t> out;
    std::unique_ptr<rocksdb::Iterator> it(
        db_->NewIterator(rocksdb::ReadOptions(), by_name_.at(keys::kMetaFamily)));
    for (it->Seek(keys::kConfPrefix); it->Valid() && it->key().starts_with(keys::kConfPrefix);
         it->Next()) {
      uint64_t index = 0;
      EXPECT_TRUE(keys::parse_be64(it->key().ToStringView().substr(5), &index));
      out.push_back(index);
    }
    return out;
  }

 private:
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  std::map<std::string, rocksdb::ColumnFamilyHandle*> by_name_;
};

// Every file under `dir` with its contents: to prove a refusal wrote nothing.
inline std::map<std::string, std::string> dir_contents(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const auto& f : std::filesystem::recursive_directory_iterator(dir)) {
    if (!f.is_regular_file()) continue;
    std::ifstream in(f.path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    out[f.path().string()] = ss.str();
  }
  return out;
}

}  // namespace storage::testing
