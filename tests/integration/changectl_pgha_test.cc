// changectl pgha against a real 3-node changeagent cluster: the desired
// state round trip through the store (JSON and YAML files, $EDITOR, CAS on
// the key's revision against a concurrent writer, refusals with precise
// messages that write nothing), switchover/failover requests, pause and
// resume, `list` over status and member keys, and `history` filtered to one
// cluster's events in the log.
#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <future>
#include <set>

#include "pgha/core/model.h"
#include "pgha/core/reconcile.h"
#include "tests/integration/test_util.h"

namespace integration {
namespace {

struct Ctl {
  int exit_code = -1;
  std::string out;  // stdout and stderr together
};

class ChangectlPgha : public ClusterTest {
 protected:
  void SetUp() override {
    start();
    for (size_t i = 0; i < cluster_->size(); ++i) {
      endpoints_ += (i ? "," : "") + cluster_->node(i).client_address();
    }
    client_ = cluster_->client_all();
    ASSERT_TRUE(client_);
  }

  // Runs changectl with `args` (and `env` before it, e.g. "EDITOR=...").
  Ctl ctl(const std::string& args, const std::string& env = "") {
    std::string cmd =
        env + " " + CHANGECTL_PATH + " --endpoints " + endpoints_ + " " + args + " 2>&1 </dev/null";
    Ctl r;
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) return r;
    char buf[4096];
    for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) r.out.append(buf, n);
    int status = pclose(p);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
  }

  std::string write_file(const std::string& name, const std::string& text,
                         bool executable = false) {
    std::string path = cluster_->dir() + "/" + name;
    std::ofstream(path) << text;
    if (executable) chmod(path.c_str(), 0755);
    return path;
  }

  // The stored desired state and its revision.
  std::pair<pgha::Desired, uint64_t> desired() {
    auto kv = client_->get_key(pgha::desired_key("main"), true);
    EXPECT_TRUE(ok(kv));
    if (!kv.is_ok()) return {};
    auto d = pgha::parse_desired(kv->value_json);
    EXPECT_TRUE(ok(d)) << kv->value_json;
    return {d.is_ok() ? *d : pgha::Desired{}, kv->mod_revision};
  }

  std::string endpoints_;
  std::unique_ptr<api::Client> client_;
};

const char* kDesiredYaml = R"(# the operator's file
members:
  - name: a
    priority: 200
  - name: b
  - name: c
    nofailover: true
mode: sync
syncFallback: degrade
pgSettings:
  work_mem: 8MB
  max_connections: 200
  hot_standby_feedback: true
)";

TEST_F(ChangectlPgha, DesiredStateRoundTripAndRequests) {
  Ctl none = ctl("pgha list");
  EXPECT_EQ(none.exit_code, 3) << none.out;
  EXPECT_NE(none.out.find("no pgha cluster 'main'"), std::string::npos) << none.out;
  Ctl early = ctl("pgha switchover --to b");
  EXPECT_EQ(early.exit_code, 3) << early.out;
  EXPECT_NE(early.out.find("pgha edit-desired FILE"), std::string::npos) << early.out;

  // A YAML file: converted, validated, written with "must not exist".
  Ctl put = ctl("pgha edit-desired " + write_file("desired.yaml", kDesiredYaml));
  ASSERT_EQ(put.exit_code, 0) << put.out;
  auto [d1, rev1] = desired();
  EXPECT_EQ(d1.generation, 1u);
  EXPECT_EQ(d1.mode, pgha::ReplicationMode::kSync);
  EXPECT_EQ(d1.sync_fallback, pgha::SyncFallback::kDegrade);
  ASSERT_EQ(d1.members.size(), 3u);
  EXPECT_EQ(d1.members[0].priority, 200);
  EXPECT_TRUE(d1.members[2].nofailover);
  EXPECT_EQ(d1.pg_settings["work_mem"], "8MB");
  EXPECT_EQ(d1.pg_settings["max_connections"], "200");
  EXPECT_EQ(d1.pg_settings["hot_standby_feedback"], "on");

  // Refusals name the field and write nothing.
  struct Bad {
    const char* file;
    const char* text;
    const char* says;
  } const bad[] = {
      {"quorum.json",
       R"({"members":[{"name":"a"},{"name":"b"},{"name":"c"}],"mode":"quorum","quorumN":3})",
       "quorumN 3 is out of range [1, 2] for 3 members"},
      {"typo.yaml", "members:\n  - name: a\nmdoe: sync\n", "unknown field mdoe"},
      {"broken.yaml", "members: [a\n", "not valid YAML"},
      {"managed.json",
       R"({"members":[{"name":"a"}],"pgSettings":{"synchronous_standby_names":"*"}})",
       "managed by pgha"},
  };
  for (const auto& b : bad) {
    Ctl r = ctl("pgha edit-desired " + write_file(b.file, b.text));
    EXPECT_EQ(r.exit_code, 2) << b.file << ": " << r.out;
    EXPECT_NE(r.out.find(b.says), std::string::npos) << b.file << ": " << r.out;
  }
  EXPECT_EQ(desired().second, rev1) << "a refused desired state was written";

  // pause / resume flip the flag, bump the generation, and are idempotent.
  ASSERT_EQ(ctl("pgha pause").exit_code, 0);
  EXPECT_TRUE(desired().first.paused);
  Ctl again = ctl("pgha pause");
  EXPECT_EQ(again.exit_code, 0);
  EXPECT_NE(again.out.find("already paused"), std::string::npos) << again.out;
  ASSERT_EQ(ctl("pgha resume").exit_code, 0);
  auto [d3, rev3] = desired();
  EXPECT_FALSE(d3.paused);
  EXPECT_EQ(d3.generation, 3u);

  // Handover requests.
  Ctl sw = ctl("-o json pgha switchover --to b");
  ASSERT_EQ(sw.exit_code, 0) << sw.out;
  auto d4 = desired().first;
  ASSERT_TRUE(d4.handover.has_value());
  EXPECT_EQ(d4.handover->kind, pgha::HandoverKind::kSwitchover);
  EXPECT_EQ(d4.handover->to, "b");
  EXPECT_FALSE(d4.handover->id.empty());
  Ctl stranger = ctl("pgha switchover --to z");
  EXPECT_EQ(stranger.exit_code, 2);
  EXPECT_NE(stranger.out.find("'z' is not a member"), std::string::npos) << stranger.out;
  Ctl nofail = ctl("pgha switchover --to c");
  EXPECT_EQ(nofail.exit_code, 2);
  EXPECT_NE(nofail.out.find("nofailover"), std::string::npos) << nofail.out;
  EXPECT_EQ(ctl("pgha switchover").exit_code, 2);
  ASSERT_EQ(ctl("pgha failover").exit_code, 0);
  auto d5 = desired().first;
  EXPECT_EQ(d5.handover->kind, pgha::HandoverKind::kFailover);
  EXPECT_EQ(d5.handover->to, "");
  EXPECT_NE(d5.handover->id, d4.handover->id);
  EXPECT_EQ(ctl("pgha list --name 'bad name'").exit_code, 2);
}

TEST_F(ChangectlPgha, EditInEditorWithCompareAndSet) {
  ASSERT_EQ(ctl("pgha edit-desired " + write_file("d.yaml", kDesiredYaml)).exit_code, 0);
  auto [before, rev] = desired();

  // $EDITOR changes the file: validated and written.
  std::string lower = write_file(
      "lower.sh", "#!/bin/sh\nsed -i 's/\"priority\": 200/\"priority\": 7/' \"$1\"\n", true);
  Ctl edited = ctl("pgha edit-desired", "EDITOR=" + lower);
  ASSERT_EQ(edited.exit_code, 0) << edited.out;
  auto [after, rev2] = desired();
  EXPECT_EQ(after.members[0].priority, 7);
  EXPECT_EQ(after.generation, before.generation + 1);
  EXPECT_GT(rev2, rev);

  // An editor that saves nothing new writes nothing.
  Ctl same = ctl("pgha edit-desired", "EDITOR=true");
  EXPECT_EQ(same.exit_code, 0);
  EXPECT_NE(same.out.find("no change"), std::string::npos) << same.out;
  EXPECT_EQ(desired().second, rev2);

  // Someone pauses the cluster while the editor is open: the edit loses the
  // compare-and-set (exit 4) and the pause stands.
  std::string racing =
      write_file("racing.sh",
                 "#!/bin/sh\n" + std::string(CHANGECTL_PATH) + " --endpoints " + endpoints_ +
                     " pgha pause >/dev/null\nsed -i 's/\"priority\": 7/\"priority\": 9/' \"$1\"\n",
                 true);
  Ctl lost = ctl("pgha edit-desired", "EDITOR=" + racing);
  EXPECT_EQ(lost.exit_code, 4) << lost.out;
  EXPECT_NE(lost.out.find("changed meanwhile"), std::string::npos) << lost.out;
  auto [raced, rev3] = desired();
  EXPECT_TRUE(raced.paused);
  EXPECT_EQ(raced.members[0].priority, 7);

  // An invalid edit is refused, naming the problem.
  std::string emptying =
      write_file("emptying.sh", "#!/bin/sh\necho '{\"members\":[]}' > \"$1\"\n", true);
  Ctl refused = ctl("pgha edit-desired", "EDITOR=" + emptying);
  EXPECT_EQ(refused.exit_code, 2) << refused.out;
  EXPECT_NE(refused.out.find("at least one member"), std::string::npos) << refused.out;
  EXPECT_EQ(desired().second, rev3);
}

TEST_F(ChangectlPgha, ListAndHistory) {
  ASSERT_EQ(ctl("pgha edit-desired " + write_file("d.yaml", kDesiredYaml)).exit_code, 0);
  // What a coordinator and two agents would have written.
  pgha::ClusterStatus s;
  s.generation = 4;
  s.epoch = 2;
  s.primary = "a";
  s.timeline = 2;
  s.state = pgha::ClusterState::kDegraded;
  s.targets["a"] = {pgha::TargetRole::kPrimary, "", "127.0.0.1:5432"};
  s.targets["b"] = {pgha::TargetRole::kReplica, "a", "127.0.0.1:5433"};
  s.targets["c"] = {pgha::TargetRole::kReplica, "a", ""};
  s.synchronous_standby_names = "FIRST 1 (\"b\")";
  s.sync = {{"b"}, 1};
  s.blocked = "c: agent lease gone";
  ASSERT_TRUE(ok(client_->put_key(pgha::status_key("main"), pgha::to_json(s))));
  pgha::Observation a;
  a.member = "a";
  a.role = pgha::PgRole::kPrimary;
  a.pg_running = true;
  a.timeline = 2;
  a.flush_lsn = 0x3000100;
  pgha::Observation b = a;
  b.member = "b";
  b.role = pgha::PgRole::kReplica;
  b.flush_lsn = 0;
  b.receive_lsn = 0x3000000;
  b.upstream = "a";
  b.streaming = true;
  b.last_error = "none really";
  ASSERT_TRUE(ok(client_->put_key(pgha::member_key("main", "a"), pgha::to_json(a))));
  ASSERT_TRUE(ok(client_->put_key(pgha::member_key("main", "b"), pgha::to_json(b))));

  Ctl drop = ctl("pgha edit-desired " +
                 write_file("drop.json", R"({"members":[{"name":"b"},{"name":"c"}]})"));
  EXPECT_EQ(drop.exit_code, 2) << drop.out;
  EXPECT_NE(drop.out.find("drops 'a', the current primary"), std::string::npos) << drop.out;

  Ctl list = ctl("pgha list");
  ASSERT_EQ(list.exit_code, 0) << list.out;
  for (const char* says : {"state degraded", "primary a", "timeline 2", "FIRST 1 (\"b\")",
                           "waiting: c: agent lease gone", "MEMBER", "0/3000100", "256",
                           "(no agent)", "nofailover", "none really", "sync"}) {
    EXPECT_NE(list.out.find(says), std::string::npos) << "missing '" << says << "':\n" << list.out;
  }
  Ctl list_json = ctl("-o json pgha list");
  ASSERT_EQ(list_json.exit_code, 0) << list_json.out;
  auto v = boost::json::parse(list_json.out);
  EXPECT_EQ(v.at("status").at("primary").as_string(), "a");
  EXPECT_EQ(v.at("members").as_object().size(), 2u);
  EXPECT_EQ(v.at("desired").at("mode").as_string(), "sync");

  // Events of this cluster and of another, as the coordinator appends them.
  auto post = [&](const std::string& cluster, const std::string& kind, const std::string& msg) {
    pgha::Event e{cluster, kind, "a", msg, 1700000000000, 4};
    api::ChangeInput in;
    in.data_json = pgha::to_json(e);
    in.tags = pgha::event_tags(e);
    ASSERT_TRUE(ok(client_->post_change(in)));
  };
  post("main", "failover-begin", "primary a lost: agent lease gone");
  post("other", "bootstrap", "not ours");
  post("main", "failover-candidate", "b chosen to replace a");
  post("main", "failover-end", "b is primary on timeline 3 (was a)");

  Ctl hist = ctl("pgha history");
  ASSERT_EQ(hist.exit_code, 0) << hist.out;
  for (const char* says : {"KIND", "failover-begin", "failover-candidate", "failover-end",
                           "b is primary on timeline 3 (was a)"}) {
    EXPECT_NE(hist.out.find(says), std::string::npos) << "missing '" << says << "':\n" << hist.out;
  }
  EXPECT_EQ(hist.out.find("not ours"), std::string::npos) << hist.out;
  EXPECT_LT(hist.out.find("failover-begin"), hist.out.find("failover-end"));
  Ctl two = ctl("pgha history --limit 2");
  EXPECT_EQ(two.out.find("failover-end"), std::string::npos) << two.out;
  Ctl other = ctl("-o json pgha history --name other");
  ASSERT_EQ(other.exit_code, 0);
  auto line = boost::json::parse(other.out);
  EXPECT_EQ(line.at("event").at("kind").as_string(), "bootstrap");
  EXPECT_EQ(ctl("pgha history --limit -1").exit_code, 2);
}

// Three agents whose PostgreSQL is simulated in memory but which decide
// with the real reconcilers and go through the real store the way pgha's
// agents do: member keys, the coordinator's status written by CAS, its
// events appended as tagged changes. changectl drives them as an operator
// would; the real-PostgreSQL version is pgha's own integration test.
class SimulatedAgents {
 public:
  SimulatedAgents(api::Client& c, std::vector<std::string> members)
      : c_(c), members_(std::move(members)) {
    for (const auto& m : members_) {
      pgha::Observation o;
      o.member = m;
      o.pg_address = "127.0.0.1:1" + std::to_string(pg_.size());
      o.role = pgha::PgRole::kUninitialized;
      pg_[m] = o;
    }
  }

  // The agent of `m` stops (its key is deleted as its lease would expire);
  // its PostgreSQL keeps whatever role it had, cut off.
  void stop_agent(const std::string& m) {
    down_.insert(m);
    EXPECT_TRUE(ok(c_.delete_key(pgha::member_key("main", m))));
  }

  // One loop of every running agent, then of the coordinator.
  void tick() {
    int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
    auto d = read<pgha::Desired>(pgha::desired_key("main"), pgha::parse_desired);
    if (!d) return;
    auto s = read<pgha::ClusterStatus>(pgha::status_key("main"), pgha::parse_status);
    for (const auto& m : members_) {
      if (down_.count(m)) continue;
      pgha::LocalInput in;
      in.self = m;
      in.desired = d;
      in.status = s;
      in.local = pg_[m];
      in.now = now;
      for (const auto& a : pgha::reconcile_local(in)) apply(m, a);
      stream(m);
      pg_[m].observed_at_ms = now;
      // A failed write (an election under load) is retried by the next tick.
      (void)c_.put_key(pgha::member_key("main", m), pgha::to_json(pg_[m]));
    }
    coordinate(*d, now);
  }

  std::optional<pgha::ClusterStatus> status() {
    return read<pgha::ClusterStatus>(pgha::status_key("main"), pgha::parse_status);
  }

 private:
  template <typename T, typename Parse>
  std::optional<T> read(const std::string& key, Parse parse, uint64_t* revision = nullptr) {
    auto kv = c_.get_key(key, true);
    if (!kv.is_ok()) return std::nullopt;  // absent, or an election under load: next tick
    if (revision) *revision = kv->mod_revision;
    auto v = parse(kv->value_json);
    EXPECT_TRUE(ok(v)) << kv->value_json;
    return v.is_ok() ? std::optional<T>(*v) : std::nullopt;
  }

  void coordinate(const pgha::Desired& d, int64_t now) {
    std::map<std::string, pgha::Observation> observed;
    auto page = c_.list_keys(pgha::members_prefix("main"), "", 100, true);
    if (!page.is_ok()) return;
    for (const auto& kv : page->keys) {
      auto o = pgha::parse_observation(kv.value_json);
      if (o.is_ok()) observed[o->member] = *o;
    }
    uint64_t revision = 0;
    auto prev = read<pgha::ClusterStatus>(pgha::status_key("main"), pgha::parse_status, &revision);
    auto decision = pgha::reconcile_cluster("main", d, observed, prev, now);
    if (!decision.changed) return;
    auto w = c_.put_key(pgha::status_key("main"), pgha::to_json(decision.status), revision);
    if (!w.is_ok() || !w->succeeded) return;  // decided again next tick
    for (const auto& e : decision.events) {
      api::ChangeInput in;
      in.data_json = pgha::to_json(e);
      in.tags = pgha::event_tags(e);
      in.request_id = "ev-" + std::to_string(decision.status.generation) + "-" +
                      std::to_string(&e - decision.events.data());
      for (int attempt = 0; attempt < 20 && !c_.post_change(in).is_ok(); ++attempt) {
        std::this_thread::sleep_for(Millis(50));
      }
    }
  }

  // What PostgreSQL would do with each action, in memory.
  void apply(const std::string& m, const pgha::LocalAction& a) {
    using K = pgha::LocalActionKind;
    pgha::Observation& o = pg_[m];
    const pgha::Observation* src = a.source.empty() ? nullptr : &pg_[a.source];
    switch (a.kind) {
      case K::kNone:
        break;
      case K::kInitdb:
        o.role = pgha::PgRole::kStopped;
        o.timeline = 1;
        o.flush_lsn = 0x1000000;
        break;
      case K::kBasebackup:
      case K::kRewind:
        o.role = pgha::PgRole::kStopped;
        o.timeline = src->timeline;
        o.receive_lsn = o.replay_lsn = pgha::position_of(*src);
        o.flush_lsn = 0;
        o.fenced = false;
        break;
      case K::kFollow:
        follow_[m] = a.source;
        if (o.pg_running) o.upstream = a.source;
        break;
      case K::kDemote:
        follow_[m] = a.source;
        o.role = pgha::PgRole::kReplica;
        o.fenced = false;
        o.upstream = a.source;
        break;
      case K::kStart:
        o.pg_running = true;
        o.role = follow_[m].empty() ? pgha::PgRole::kPrimary : pgha::PgRole::kReplica;
        o.upstream = follow_[m];
        break;
      case K::kStop:
        o.pg_running = false;
        o.role = pgha::PgRole::kStopped;
        o.upstream.clear();
        o.streaming = false;
        o.fenced = false;
        break;
      case K::kPromote:
        o.role = pgha::PgRole::kPrimary;
        o.timeline += 1;
        o.flush_lsn = std::max(o.flush_lsn, o.receive_lsn);
        o.upstream.clear();
        o.streaming = false;
        follow_[m].clear();
        break;
      case K::kSetSyncNames:
        o.synchronous_standby_names = a.sync_names;
        break;
      case K::kFence:
        o.fenced = true;
        break;
      case K::kUnfence:
        o.fenced = false;
        break;
    }
  }

  // A writable primary gains WAL; a replica receives its upstream's.
  void stream(const std::string& m) {
    pgha::Observation& o = pg_[m];
    if (!o.pg_running) return;
    if (o.role == pgha::PgRole::kPrimary && !o.fenced) o.flush_lsn += 4096;
    if (o.role != pgha::PgRole::kReplica) return;
    auto up = pg_.find(o.upstream);
    o.streaming =
        up != pg_.end() && up->second.pg_running && !down_.count(o.upstream) &&
        (up->second.role == pgha::PgRole::kPrimary || up->second.role == pgha::PgRole::kReplica);
    if (o.streaming) {
      o.receive_lsn = o.replay_lsn = pgha::position_of(up->second);
      o.timeline = up->second.timeline;  // recovery_target_timeline = latest
    }
  }

  api::Client& c_;
  std::vector<std::string> members_;
  std::map<std::string, pgha::Observation> pg_;
  std::map<std::string, std::string> follow_;
  std::set<std::string> down_;
};

// Slower Raft timings than the harness default: this test runs for seconds
// of real time on a loaded machine, and an election only slows it down.
class ChangectlPghaSim : public ChangectlPgha {
 protected:
  void SetUp() override {
    ClusterOptions o;
    o.tick_ms = 25;
    start(o);
    for (size_t i = 0; i < cluster_->size(); ++i) {
      endpoints_ += (i ? "," : "") + cluster_->node(i).client_address();
    }
    client_ = cluster_->client_all();
    ASSERT_TRUE(client_);
  }
};

TEST_F(ChangectlPghaSim, SwitchoverAndFailoverWithSimulatedAgents) {
  ASSERT_EQ(ctl("pgha edit-desired " +
                write_file("d.json", R"({"members":[{"name":"a"},{"name":"b"},{"name":"c"}]})"))
                .exit_code,
            0);
  SimulatedAgents sim(*client_, {"a", "b", "c"});
  auto until = [&](const std::function<bool(const pgha::ClusterStatus&)>& done, const char* what) {
    auto deadline = Clock::now() + Millis(20000);
    while (Clock::now() < deadline) {
      sim.tick();
      auto s = sim.status();
      if (s && done(*s)) return;
      if (HasFatalFailure()) return;
    }
    auto s = sim.status();
    FAIL() << "timed out waiting for " << what << "; status: " << (s ? pgha::to_json(*s) : "none");
  };
  // Ticks while changectl runs (it waits for the simulated coordinator).
  auto while_running = [&](const std::string& args) {
    auto result = std::async(std::launch::async, [&, args] { return ctl(args); });
    auto deadline = Clock::now() + Millis(25000);
    while (result.wait_for(Millis(0)) != std::future_status::ready && Clock::now() < deadline) {
      sim.tick();
    }
    return result.get();
  };

  until([](const auto& s) { return s.state == pgha::ClusterState::kHealthy; }, "bootstrap");
  EXPECT_EQ(sim.status()->primary, "a");

  Ctl sw = while_running("pgha switchover --to b --wait 20");
  ASSERT_EQ(sw.exit_code, 0) << sw.out;
  EXPECT_NE(sw.out.find("b is the primary on timeline 2"), std::string::npos) << sw.out;
  until([](const auto& s) { return s.state == pgha::ClusterState::kHealthy; }, "a rejoins");

  // b's agent dies: an automatic failover to the most advanced of a and c.
  sim.stop_agent("b");
  until([](const auto& s) { return s.primary != "b" && !s.handover; }, "failover");
  std::string survivor = sim.status()->primary;
  EXPECT_EQ(sim.status()->timeline, 3u);

  // A switchover to the dead member is refused, and --wait says why.
  Ctl refused = while_running("pgha switchover --to b --wait 20");
  EXPECT_EQ(refused.exit_code, 1) << refused.out;
  EXPECT_NE(refused.out.find("switchover-refused"), std::string::npos) << refused.out;
  EXPECT_NE(refused.out.find("b: agent lease gone"), std::string::npos) << refused.out;

  // An operator failover away from a healthy primary.
  std::string other = survivor == "a" ? "c" : "a";
  Ctl fo = while_running("pgha failover --to " + other + " --wait 20");
  ASSERT_EQ(fo.exit_code, 0) << fo.out;
  EXPECT_EQ(sim.status()->primary, other);

  Ctl hist = ctl("pgha history");
  ASSERT_EQ(hist.exit_code, 0);
  for (const char* kind :
       {"bootstrap", "switchover-begin", "switchover-end", "failover-begin", "failover-candidate",
        "failover-end", "switchover-refused", "health-failure"}) {
    EXPECT_NE(hist.out.find(kind), std::string::npos) << "no " << kind << " in:\n" << hist.out;
  }
  EXPECT_LT(hist.out.find("switchover-end"), hist.out.find("failover-begin"));
  // Without any coordinator, --wait times out and says the request stands.
  Ctl lonely = ctl("pgha switchover --to " + survivor + " --wait 0.5");
  EXPECT_EQ(lonely.exit_code, 1) << lonely.out;
  EXPECT_NE(lonely.out.find("is a pgha agent running?"), std::string::npos) << lonely.out;
}

}  // namespace
}  // namespace integration
