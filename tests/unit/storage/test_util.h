// Helpers shared by the storage tests: a temp directory removed afterwards,
// and terse builders for entries and memberships.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "raftlog/types.h"
#include "storage/store.h"

namespace storage::testing {

using raftlog::Entry;
using raftlog::EntryType;
using raftlog::Index;
using raftlog::Membership;
using raftlog::NodeId;
using raftlog::Term;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "storage_test.XXXXXX").string();
    char* made = mkdtemp(tmpl.data());
    if (made == nullptr) ADD_FAILURE() << "mkdtemp failed";
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  // The store directory inside (created by the store itself).
  std::string db() const { return path_ + "/db"; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline Entry entry(uint64_t index, uint64_t term, std::string data = "") {
  if (data.empty()) data = "e" + std::to_string(index) + "t" + std::to_string(term);
  return Entry{Term(term), Index(index), EntryType::kNormal, std::move(data)};
}

inline Membership members(std::initializer_list<uint64_t> voters) {
  Membership m;
  for (uint64_t id : voters)
    m.members[NodeId(id)] = raftlog::Member{false, "n" + std::to_string(id)};
  return m;
}

inline Entry conf_entry(uint64_t index, uint64_t term, const Membership& m) {
  return Entry{Term(term), Index(index), EntryType::kMembership, raftlog::encode_membership(m)};
}

// Entries [lo, hi] all of term `term`.
inline std::vector<Entry> run(uint64_t lo, uint64_t hi, uint64_t term) {
  std::vector<Entry> out;
  for (uint64_t i = lo; i <= hi; i++) out.push_back(entry(i, term));
  return out;
}

inline OpenOptions open_options(const TempDir& dir, uint64_t cluster = 7, uint64_t node = 1) {
  OpenOptions o;
  o.dir = dir.db();
  o.create_if_missing = true;
  o.cluster_id = raftlog::ClusterId(cluster);
  o.node_id = NodeId(node);
  return o;
}

inline std::unique_ptr<Store> open_ok(const OpenOptions& o) {
  auto s = Store::open(o);
  EXPECT_TRUE(s.is_ok()) << s.status().to_string();
  if (!s.is_ok()) return nullptr;
  return std::move(s).value();
}

inline PersistBatch append_batch(std::vector<Entry> entries, bool sync = true) {
  PersistBatch b;
  b.entries = std::move(entries);
  b.sync = sync;
  return b;
}

}  // namespace storage::testing
