// Configuration history and single-server membership changes (Raft thesis
// 4.1): a configuration takes effect as soon as its entry is appended, one
// change at a time, and a truncated change reverts to the previous one.
#include "raftlog/core_impl.h"

namespace raftlog {

namespace {
const Membership kEmpty;
}

const Membership& Core::Impl::membership() const {
  return configs.empty() ? kEmpty : configs.rbegin()->second;
}

Index Core::Impl::membership_index() const {
  return configs.empty() ? Index(0) : configs.rbegin()->first;
}

void Core::Impl::apply_config_entries(const std::vector<Entry>& ents) {
  bool changed = false;
  for (const auto& e : ents) {
    if (e.type != EntryType::kMembership) continue;
    auto m = decode_membership(e.data);
    // Membership entries are produced by leaders of this cluster from a
    // validated Membership; one that does not decode is a bug or corruption.
    CA_ASSERT(m.is_ok());
    configs[e.index] = std::move(*m);
    changed = true;
  }
  if (changed && role == Role::kLeader) sync_progress_with_config();
}

void Core::Impl::revert_configs_from(Index i) {
  bool changed = false;
  while (!configs.empty() && configs.rbegin()->first >= i) {
    // The base configuration (at or below commit) is never truncated.
    CA_ASSERT(configs.rbegin()->first > commit);
    configs.erase(std::prev(configs.end()));
    changed = true;
  }
  if (changed && role == Role::kLeader) sync_progress_with_config();
}

// Keeps the latest configuration at or below commit and everything above.
void Core::Impl::prune_configs() {
  while (configs.size() > 1 && std::next(configs.begin())->first <= commit) {
    configs.erase(configs.begin());
  }
}

void Core::Impl::sync_progress_with_config() {
  const Membership& m = membership();
  for (auto it = progress.begin(); it != progress.end();) {
    it = m.contains(it->first) || it->first == cfg.id ? std::next(it) : progress.erase(it);
  }
  for (const auto& [id, member] : m.members) {
    if (progress.count(id)) continue;
    Progress pr;
    pr.next = last_index() + 1;
    pr.recent_active = true;  // a new member gets one check-quorum window of grace
    if (id == cfg.id) pr.match = stable_index();
    progress.emplace(id, pr);
  }
}

Status Core::Impl::validate_change(const Membership& next) const {
  if (transfer_target != kNoNode) return Status(Code::kBusy, "leadership transfer in progress");
  if (membership_index() > commit) {
    return Status(Code::kConflict, "a membership change is already in progress");
  }
  if (commit < term_start) {
    // Changing membership before this leader committed an entry of its own
    // term can lose a change committed by a previous leader (Ongaro,
    // raft-dev, 2015): wait for the no-op.
    return Status(Code::kBusy, "leader has not committed its first entry yet; retry");
  }
  const Membership& cur = membership();
  size_t changes = 0;
  for (const auto& [id, member] : next.members) {
    if (id == kNoNode) return Status(Code::kInvalidArgument, "member id 0 is reserved");
    auto it = cur.members.find(id);
    if (it == cur.members.end() || it->second != member) changes++;
  }
  for (const auto& [id, member] : cur.members) {
    if (!next.contains(id)) changes++;
  }
  if (changes == 0) return Status(Code::kInvalidArgument, "configuration unchanged");
  if (changes > 1) {
    return Status(Code::kInvalidArgument,
                  "change one member at a time (got " + std::to_string(changes) + " changes)");
  }
  if (next.voter_count() == 0) return Status(Code::kInvalidArgument, "no voter would remain");
  auto self = next.members.find(cfg.id);
  if (self != next.members.end() && self->second.learner) {
    return Status(Code::kInvalidArgument,
                  "the leader cannot demote itself; transfer leadership first");
  }
  return Status::ok();
}

// A leader whose removal has committed hands leadership to the most
// caught-up voter and steps down (Raft thesis 4.2.2).
void Core::Impl::maybe_leave_after_removal() {
  if (role != Role::kLeader || membership().contains(cfg.id) || membership_index() > commit) {
    return;
  }
  NodeId best = kNoNode;
  Index best_match;
  for (const auto& [id, pr] : progress) {
    if (id == cfg.id || !membership().is_voter(id)) continue;
    if (best == kNoNode || pr.match > best_match) {
      best = id;
      best_match = pr.match;
    }
  }
  if (best != kNoNode && best_match == last_index()) {
    Message tn;
    tn.type = MessageType::kTimeoutNow;
    tn.to = best;
    send(std::move(tn));
  }
  become_follower(hs.term, kNoNode);
}

}  // namespace raftlog
