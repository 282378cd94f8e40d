// Catch-up snapshots on the node: wiring the stream sender and receiver
// (api/snapshot_stream*.cc) to the core and the Ready loop.
#include "api/node_impl.h"
#include "api/snapshot_stream.h"

namespace api {

using changeagent::peer::PeerFrame;

void Node::Impl::start_snapshot_streams() {
  SnapshotSender::Hooks sh;
  sh.send = [this](NodeId to, PeerFrame f) { transport->send(to, std::move(f)); };
  sh.alive = [this](NodeId peer) { core->report_snapshot_progress(peer); };
  sh.finished = [this](NodeId peer, bool ok) {
    core->report_snapshot(peer, ok);
    schedule_ready();
  };
  sh.wanted = [this](NodeId peer) {
    if (core->role() != raftlog::Role::kLeader) return false;
    auto st = core->status();
    auto it = st.progress.find(peer);
    return it != st.progress.end() && it->second.state == raftlog::Progress::State::kSnapshot;
  };
  snapshot_sender = std::make_unique<SnapshotSender>(io, store.get(), log, std::move(sh));

  SnapshotReceiver::Hooks rh;
  rh.send = [this](NodeId to, PeerFrame f) { transport->send(to, std::move(f)); };
  rh.complete = [this](NodeId leader, Term term, const storage::StreamHead& head) {
    // Hand the core the snapshot as if it had arrived whole: it installs it
    // through the next Ready (the data is our marker: the staged files).
    raftlog::Message m;
    m.type = raftlog::MessageType::kSnapshot;
    m.cluster_id = cluster_id;
    m.from = leader;
    m.to = self;
    m.term = term;
    m.snapshot.meta = head.meta;
    m.snapshot.data = snapshot_receiver->marker();
    (void)core->step(m);
    schedule_ready();
  };
  snapshot_receiver = std::make_unique<SnapshotReceiver>(io, opts.data_dir + "/snapshot-incoming",
                                                         log, std::move(rh));
}

void Node::Impl::stop_snapshot_streams() {
  if (snapshot_sender) snapshot_sender->stop();
  if (snapshot_receiver) snapshot_receiver->stop();
}

bool Node::Impl::stage_streamed_install(const raftlog::Ready& rd, storage::PersistBatch& b) {
  if (!rd.snapshot || !snapshot_receiver) return false;
  auto staged = snapshot_receiver->staged_for(rd.snapshot->data);
  if (!staged) return false;
  b.streamed = std::move(staged);
  b.streamed_dir = snapshot_receiver->staging_dir();
  // The rows and applied index of the state before the snapshot must not
  // land on top of the installed one.
  b.applied.reset();
  b.state_rows.clear();
  return true;
}

void Node::Impl::after_streamed_install(const raftlog::SnapshotMeta& meta) {
  applied = meta.index;
  applied_persisted = meta.index;
  view = state::StateView();
  if (Status s = load_state(); !s.is_ok()) {
    fail(s);
    return;
  }
  // The replicated /config came with the state: apply it as the snapshot has it.
  refresh_config(false);
  // The newest stamp bounds every stamp we give should we lead.
  auto ents = store->entries(meta.index, meta.index + 1, 1 << 20);
  if (ents.is_ok()) note_stamps(*ents);
  sync_peers(meta.membership);
  snapshot_receiver->installed();
  log->info("installed snapshot at index {} (log {}..{}, {} keys)", meta.index.value(),
            store->first_index().value(), store->last_index().value(), view.key_count());
}

void Node::Impl::snapshot_views(std::vector<SnapshotTransferView>& out) const {
  if (snapshot_sender) snapshot_sender->views(out);
  if (snapshot_receiver) snapshot_receiver->views(out);
}

}  // namespace api
