// A minimal in-memory LogReader for unit tests: everything persisted is
// durable (the simulator has the twin that models crashes).
#pragma once

#include <map>

#include "raftlog/raft.h"

namespace raftlog::testing {

class MemLog : public LogReader {
 public:
  Index first_index() const override { return snap_.index + 1; }
  Index last_index() const override { return snap_.index + ents_.size(); }
  Result<Term> term(Index i) const override {
    if (i == snap_.index) return snap_.term;
    if (i < snap_.index) return Status(Code::kCompacted, "compacted");
    if (i > last_index()) return Status(Code::kNotFound, "beyond last");
    return ents_[i.value() - snap_.index.value() - 1].term;
  }
  Result<std::vector<Entry>> entries(Index lo, Index hi, uint64_t bytes_max) const override {
    if (lo <= snap_.index) return Status(Code::kCompacted, "compacted");
    std::vector<Entry> out;
    uint64_t bytes = 0;
    for (Index i = lo; i < hi; ++i) {
      const Entry& e = ents_[i.value() - snap_.index.value() - 1];
      if (!out.empty() && bytes + entry_size(e) > bytes_max) break;
      bytes += entry_size(e);
      out.push_back(e);
    }
    return out;
  }
  SnapshotMeta snapshot() const override { return snap_; }

  void append(const std::vector<Entry>& ents) {
    if (ents.empty()) return;
    Index from = ents.front().index;
    ents_.resize(from.value() - snap_.index.value() - 1);
    ents_.insert(ents_.end(), ents.begin(), ents.end());
  }
  // A disk that lost its last n entries after they were acknowledged
  // (tests/chaos/FINDINGS.md #8); the hard state's commit follows.
  void lose_tail(size_t n) {
    ents_.resize(ents_.size() - n);
    if (hs.commit > last_index()) hs.commit = last_index();
  }
  void install(const Snapshot& s) {
    snap_ = s.meta;
    data_ = s.data ? *s.data : "";
    ents_.clear();
  }
  // Records a snapshot taken locally at `meta.index` (entries stay until compact).
  void set_snapshot(const SnapshotMeta& meta, std::string data) {
    // Keep entries after meta.index; drop the ones it covers.
    std::vector<Entry> rest;
    for (auto& e : ents_) {
      if (e.index > meta.index) rest.push_back(e);
    }
    snap_ = meta;
    data_ = std::move(data);
    ents_ = std::move(rest);
  }
  const std::string& snapshot_data() const { return data_; }
  HardState hs;

 private:
  SnapshotMeta snap_;
  std::string data_;
  std::vector<Entry> ents_;
};

}  // namespace raftlog::testing
