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

#include "pgha/core/model.h"
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
      {"broken.yaml", "members: [a\n", "is not valid YAML"},
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

}  // namespace
}  // namespace integration
