// The agent's view of the coordination store (changeagent, through
// api::Client): one read of everything under /pgha/<cluster>/, the member
// key on the agent's lease, the coordinator key (CAS on a lease), the status
// written by CAS while holding the coordinator key. (Events go through
// event_log.h, off the agent's loop.) Every call is bounded (short request timeouts), so that an
// unreachable store shows up as an error within a loop's time, never a hang.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "api/client.h"
#include "pgha/core/model.h"

namespace pgha::agent {

struct ClusterSnapshot {
  std::optional<Desired> desired;
  std::string desired_error;  // the stored desired state does not parse or validate
  std::optional<ClusterStatus> status;
  uint64_t status_revision = 0;  // 0 = absent
  std::optional<LeaderRecord> leader;
  uint64_t leader_revision = 0;  // 0 = absent
  uint64_t leader_lease = 0;
  std::map<std::string, Observation> members;  // by member name (parsed ones only)
  uint64_t revision = 0;                       // the store's applied index the read saw
};

class Store {
 public:
  // request_timeout bounds each call (keep it below the lease ttl).
  static common::Result<std::unique_ptr<Store>> create(const std::vector<std::string>& endpoints,
                                                       std::string cluster,
                                                       std::chrono::milliseconds request_timeout);

  common::Result<ClusterSnapshot> read();
  common::Result<api::LeaseInfo> grant_lease(uint64_t ttl_seconds);
  common::Status revoke_lease(uint64_t lease);
  common::Status put_member(const Observation& o, uint64_t lease);
  // Takes the coordinator key if absent; true when this agent holds it
  // afterwards (already held counts).
  common::Result<bool> acquire_leader(const ClusterSnapshot& snap, const LeaderRecord& me,
                                      uint64_t lease);
  // CAS: only if the status is still at snap.status_revision and the
  // coordinator key still at snap.leader_revision (a coordinator whose
  // lease ran out cannot write). false when the compare failed.
  common::Result<bool> write_status(const ClusterSnapshot& snap, const ClusterStatus& status);
  // Writes the desired state (validated first) unless one exists: for
  // `pgha --bootstrap-members`. true when this call wrote it.
  common::Result<bool> put_desired_if_absent(const Desired& d);

  const std::vector<std::string>& endpoints() const { return endpoints_; }

 private:
  Store(std::unique_ptr<api::Client> c, std::vector<std::string> endpoints, std::string cluster)
      : client_(std::move(c)), endpoints_(std::move(endpoints)), cluster_(std::move(cluster)) {}
  std::unique_ptr<api::Client> client_;
  std::vector<std::string> endpoints_;
  std::string cluster_;
};

}  // namespace pgha::agent
