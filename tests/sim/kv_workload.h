// The KV workload: CAS counter clients plus a trickle of plain puts,
// deletes and lease operations, all through Cluster::propose_kv (key
// conventions in kv_command.h).
//
// A counter client loops read-modify-write on a random counter key: it reads
// the key at the node it believes leads, either from that node's applied view
// directly (may be stale: the CAS then fails and is retried) or after a
// read_index confirmed it (wait for the ReadState, then for the node to apply
// up to its index), and proposes a CAS: compare the revision read, put the
// value read + 1. The outcome is known when the proposing node, in the same
// incarnation, applies that index: our entry with kApplied is an
// acknowledged increment; our entry with a failed compare, or another entry
// there, is definitely not an increment and the client reads again. When the
// proposer crashes or no answer comes within outcome_timeout_us, the
// outcome is unknown: the client reports it so and starts afresh. The
// checker gets every acknowledged and unknown increment (kv_checker.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tests/sim/cluster.h"

namespace raftsim {

struct KvOptions {
  uint64_t counters = 3;                  // counter keys c/0..; 0 = no KV workload
  uint64_t clients = 3;                   // concurrent counter clients
  uint64_t think_us_max = 20'000;         // pause before each new read: [1, max] us
  uint64_t outcome_timeout_us = 400'000;  // a read or a CAS with no answer by then: unknown
  double read_index_p = 0.3;              // share of reads confirmed by read_index
  uint64_t misc_gap_us_max = 0;           // plain and lease operations; 0 = none
  uint64_t plain_keys = 8;                // o/0..
};

class KvWorkload final : public ClientListener {
 public:
  KvWorkload(Cluster& c, const KvOptions& o);
  ~KvWorkload() override;
  // Starts the clients; none starts a new request after until_us.
  void start(uint64_t until_us);
  // The run is over: every increment still waiting is of unknown outcome.
  void close();

  void on_applied(NodeId node, uint64_t incarnation, raftlog::Index index,
                  const SimApplied& a) override;
  void on_read_state(NodeId node, uint64_t incarnation, const raftlog::ReadState& rs) override;

 private:
  enum class Phase : uint8_t { kIdle, kReading, kProposed };
  struct Client {
    Phase phase = Phase::kIdle;
    uint64_t attempt = 0;  // bumped per request: voids older timers and polls
    std::string key;
    NodeId node;  // where the current request went
    uint64_t incarnation = 0;
    std::string read_ctx;    // kReading
    raftlog::Index read_at;  // kReading: ReadState index once answered (0 = not yet)
    raftlog::Index index;    // kProposed: where the CAS landed at `node`
    uint64_t client_id = 0;  // kProposed
  };

  void begin(size_t k);  // next request of client k, after a pause
  void request(size_t k, uint64_t attempt);
  void read_and_propose(size_t k);
  void poll_read(size_t k, uint64_t attempt);
  void timeout(size_t k, uint64_t attempt);
  void misc_step();
  NodeId target();
  void learn(NodeId tried, const raftlog::Status& s);

  Cluster& c_;
  KvOptions o_;
  uint64_t until_us_ = 0;
  bool closed_ = false;
  NodeId guess_;  // where clients believe the leader is
  std::vector<Client> clients_;
  uint64_t reads_ = 0;
};

}  // namespace raftsim
