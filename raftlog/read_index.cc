// Linearizable reads by ReadIndex (Raft thesis 6.4): the leader notes its
// commit index, confirms with a heartbeat round that it is still the leader,
// and the read may be served once the state machine has applied that index.
#include "raftlog/core_impl.h"

namespace raftlog {

Status Core::Impl::read_index(std::string ctx) {
  if (ctx.empty()) return Status(Code::kInvalidArgument, "read_index needs a non-empty context");
  if (role == Role::kLeader) {
    PendingRead r{commit, std::move(ctx), cfg.id, {cfg.id}};
    if (commit < term_start) {
      // Our commit index is only known to be current once an entry of our
      // own term has committed.
      reads_before_commit.push_back(std::move(r));
      return Status::ok();
    }
    if (quorum() <= 1) {
      respond_read(r);
      return Status::ok();
    }
    std::string c = r.context;
    pending_reads.push_back(std::move(r));
    broadcast_heartbeat(c);
    return Status::ok();
  }
  if (leader == kNoNode) {
    notices.push_back(Notice{Notice::Kind::kReadIndexDropped, kNoNode, 0});
    return Status(Code::kUnavailable, "no leader known; retry");
  }
  Message m;
  m.type = MessageType::kReadIndex;
  m.to = leader;
  m.context = std::move(ctx);
  send(std::move(m));
  return Status::ok();
}

void Core::Impl::handle_read_index(const Message& m) {
  if (role != Role::kLeader) return;  // the follower's request times out and is retried
  PendingRead r{commit, m.context, m.from, {cfg.id}};
  if (commit < term_start) {
    reads_before_commit.push_back(std::move(r));
    return;
  }
  if (quorum() <= 1) {
    respond_read(r);
    return;
  }
  pending_reads.push_back(std::move(r));
  broadcast_heartbeat(m.context);
}

void Core::Impl::handle_read_index_response(const Message& m) {
  read_states.push_back(ReadState{m.index, m.context});
}

void Core::Impl::respond_read(const PendingRead& r) {
  if (r.requester == cfg.id) {
    read_states.push_back(ReadState{r.index, r.context});
    return;
  }
  Message m;
  m.type = MessageType::kReadIndexResp;
  m.to = r.requester;
  m.index = r.index;
  m.context = r.context;
  send(std::move(m));
}

// A heartbeat answer for `ctx` also confirms every read queued before it:
// the answering voter acknowledged our leadership after those were taken.
void Core::Impl::ack_reads(NodeId from, const std::string& ctx) {
  if (!membership().is_voter(from)) return;
  size_t pos = 0;
  for (; pos < pending_reads.size(); pos++) {
    if (pending_reads[pos].context == ctx) break;
  }
  if (pos == pending_reads.size()) return;
  pending_reads[pos].acks.insert(from);
  if (pending_reads[pos].acks.size() < quorum()) return;
  for (size_t i = 0; i <= pos; i++) {
    respond_read(pending_reads.front());
    pending_reads.pop_front();
  }
}

void Core::Impl::release_reads_before_commit() {
  if (role != Role::kLeader || commit < term_start || reads_before_commit.empty()) return;
  auto reads = std::move(reads_before_commit);
  reads_before_commit.clear();
  for (auto& r : reads) {
    r.index = commit;
    if (quorum() <= 1) {
      respond_read(r);
      continue;
    }
    std::string c = r.context;
    pending_reads.push_back(std::move(r));
    broadcast_heartbeat(c);
  }
}

void Core::Impl::drop_reads() {
  // Clients of these reads time out and retry against the new leader.
  pending_reads.clear();
  reads_before_commit.clear();
}

}  // namespace raftlog
