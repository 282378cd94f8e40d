// Authentication, authorization and the client API's limits on real
// changeagent processes (docs/SECURITY.md). The htpasswd file is made by
// Debian's `htpasswd -B` (apache2-utils), as an operator would.
//
// AuthTest: one 3-node cluster started with --auth-file and --auth-roles
// (reader: read, writer: write, admin: admin): the 401/403 matrix on the
// leader and a follower, writes through a follower (forwarded to the leader
// over the peer link, which needs no credentials), changectl --user and
// CHANGECTL_USER, and the file re-read on change and on SIGHUP.
// LimitsTest: one node with small limits: 431, 413, a slow-loris connection
// closed at the header deadline, 429 for a client's extra long-polls, 503
// for connections over the maximum; each refusal logged.
#include <signal.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "tests/integration/test_util.h"

namespace integration {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// Runs a shell command; its exit status and combined output.
std::pair<int, std::string> shell(const std::string& cmd) {
  std::string out;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return {-1, "popen failed"};
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  int rc = pclose(p);
  return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, out};
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// An HTTP response as raw text from a raw socket request.
std::string raw_request(uint16_t port, const std::string& request, Millis timeout = 5000ms) {
  auto c = RawConnection::connect(port, timeout);
  if (!c.is_ok()) return "";
  if (!(*c)->send(request).is_ok()) return "";
  (*c)->read_until("\r\n\r\n", Clock::now() + timeout);
  // The body follows the headers; JSON error bodies end with '}'.
  (*c)->read_until("}", Clock::now() + timeout);
  return (*c)->received();
}

int raw_status(const std::string& response) {
  if (response.size() < 12) return 0;
  return std::atoi(response.substr(9, 3).c_str());
}

// Polls `pred` every 50 ms until it holds or the deadline passes.
template <typename Pred>
bool eventually(Millis timeout, Pred pred) {
  auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return pred();
}

class AuthTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/changeagent-auth-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) {
      start_ = Status(common::Code::kIoError, "mkdtemp failed");
      return;
    }
    dir_ = tmpl;
    for (auto [user, pw] : {std::pair{"reader", "rpw"}, {"writer", "wpw"}, {"admin", "apw"}}) {
      auto [rc, out] = shell("htpasswd -B -b " + std::string(rc_first_ ? "-c " : "") +
                             users_path() + " " + user + " " + pw);
      rc_first_ = false;
      if (rc != 0) {
        start_ = Status(common::Code::kIoError, "htpasswd (apache2-utils) failed: " + out);
        return;
      }
    }
    std::ofstream(roles_path()) << "# role per user\nreader:read\nwriter:write\nadmin:admin\n";
    ClusterOptions o;
    o.extra_args = {"--auth-file=" + users_path(), "--auth-roles=" + roles_path()};
    o.client_user = "admin:apw";  // the harness polls /diagnostics
    cluster_ = new Cluster(o);
    start_ = cluster_->start_all();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
    fs::remove_all(dir_);
  }
  void SetUp() override {
    ASSERT_TRUE(ok(start_));
    auto l = cluster_->wait_for_leader(Millis(10000));
    ASSERT_TRUE(ok(l));
    leader_ = *l;
    follower_ = cluster_->followers(leader_).front();
  }
  void TearDown() override { report_on_failure(cluster_); }

  static std::string users_path() { return dir_ + "/users.htpasswd"; }
  static std::string roles_path() { return dir_ + "/roles"; }

  // A request to node i as `user` ("" = no credentials).
  Result<api::HttpResponse> as(const std::string& user, size_t i, std::string_view method,
                               std::string_view target, std::string body = {}) {
    api::ClientOptions o;
    o.endpoints = {cluster_->node(i).client_address()};
    o.basic_auth = user;
    auto c = api::Client::create(o);
    if (!c.is_ok()) return c.status();
    return (*c)->request(method, target, std::move(body));
  }
  int status(const std::string& user, size_t i, std::string_view method, std::string_view target,
             std::string body = {}) {
    auto r = as(user, i, method, target, std::move(body));
    return r.is_ok() ? r->status : 0;
  }

  static inline Cluster* cluster_ = nullptr;
  static inline Status start_ = Status::ok();
  static inline std::string dir_;
  static inline bool rc_first_ = true;
  size_t leader_ = 0;
  size_t follower_ = 0;
};

TEST_F(AuthTest, MissingOrWrongCredentialsAre401OnEveryNode) {
  for (size_t i : {leader_, follower_}) {
    SCOPED_TRACE(cluster_->node(i).name);
    EXPECT_TRUE(is_json_error(as("", i, "GET", "/changes"), 401, "unauthorized"));
    EXPECT_TRUE(
        is_json_error(as("writer:nope", i, "POST", "/changes", R"({"x":1})"), 401, "unauthorized"));
    EXPECT_TRUE(is_json_error(as("nobody:wpw", i, "GET", "/keys/a"), 401, "unauthorized"));
    std::string raw = raw_request(cluster_->node(i).client_port,
                                  "GET /changes HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(raw_status(raw), 401) << raw;
    EXPECT_NE(raw.find("WWW-Authenticate: Basic realm=\"changeagent\""), std::string::npos) << raw;
    // /health is for load balancers: never needs credentials.
    EXPECT_EQ(status("", i, "GET", "/health"), 200);
    EXPECT_EQ(status("", i, "GET", "/metrics"), 401);
    EXPECT_EQ(status("reader:rpw", i, "GET", "/metrics"), 200);
  }
}

TEST_F(AuthTest, RolesGiveReadWriteAndAdmin) {
  for (size_t i : {leader_, follower_}) {
    SCOPED_TRACE(cluster_->node(i).name);
    EXPECT_EQ(status("reader:rpw", i, "GET", "/changes"), 200);
    EXPECT_EQ(status("reader:rpw", i, "GET", "/diagnostics"), 200);
    EXPECT_TRUE(
        is_json_error(as("reader:rpw", i, "POST", "/changes", R"({"x":1})"), 403, "forbidden"));
    EXPECT_TRUE(is_json_error(as("reader:rpw", i, "PUT", "/keys/k", R"("v")"), 403, "forbidden"));
    // A writer writes, but does not change membership or move the leader.
    EXPECT_TRUE(is_json_error(
        as("writer:wpw", i, "POST", "/cluster/members", R"({"name":"x","peerURL":"127.0.0.1:1"})"),
        403, "forbidden"));
    EXPECT_TRUE(is_json_error(as("writer:wpw", i, "POST", "/cluster/leader", R"({"id":1})"), 403,
                              "forbidden"));
    EXPECT_TRUE(is_json_error(as("writer:wpw", i, "PUT", "/health?up=false"), 403, "forbidden"));
    EXPECT_TRUE(
        is_json_error(as("reader:rpw", i, "DELETE", "/cluster/members/1"), 403, "forbidden"));
  }
  // The admin moves the leadership to a follower and back: an admin route
  // that really acts.
  auto admin = cluster_->client_all();
  ASSERT_TRUE(admin);
  uint64_t target = cluster_->node(follower_).id;
  ASSERT_NE(target, 0u);
  ASSERT_TRUE(ok(admin->move_leader(target)));
  auto l = cluster_->wait_for_leader(10000ms);
  ASSERT_TRUE(ok(l));
  EXPECT_EQ(*l, follower_);
  EXPECT_EQ(status("admin:apw", leader_, "PUT", "/health?up=false"), 200);
  EXPECT_EQ(status("", leader_, "GET", "/health"), 503);
  EXPECT_EQ(status("admin:apw", leader_, "PUT", "/health?up=true"), 200);
}

TEST_F(AuthTest, WritesThroughAFollowerAreForwardedWithoutCredentialsOnThePeerLink) {
  // The follower checked the writer; the leader takes the forwarded write
  // from its peer (mTLS protects that link, not basic auth).
  auto r = as("writer:wpw", follower_, "POST", "/changes", R"({"via":"follower"})");
  ASSERT_TRUE(ok(r));
  ASSERT_EQ(r->status, 201) << r->body;
  auto v = parse_json(r->body);
  ASSERT_TRUE(v && v->is_object());
  auto id = as_u64(v->as_object().if_contains("_id"));
  ASSERT_TRUE(id);
  for (size_t i = 0; i < cluster_->size(); i++) {
    auto got = as("reader:rpw", i, "GET", "/changes/" + std::to_string(*id));
    ASSERT_TRUE(ok(got));
    EXPECT_EQ(got->status, 200) << got->body;
    EXPECT_NE(got->body.find("follower"), std::string::npos) << got->body;
  }
  // A key write and a lease through the follower too.
  EXPECT_EQ(status("writer:wpw", follower_, "PUT", "/keys/auth-k", R"({"value":1})"), 200);
  EXPECT_EQ(status("writer:wpw", follower_, "POST", "/leases", R"({"ttl":10})"), 201);
}

TEST_F(AuthTest, ChangectlSendsUserFromFlagOrEnvironment) {
  std::string ep = cluster_->node(follower_).client_address();
  std::string bin = CHANGECTL_BIN;
  auto [rc1, out1] = shell(bin + " -e " + ep + " changes post '{\"ctl\":1}'");
  EXPECT_EQ(rc1, 1) << out1;
  EXPECT_NE(out1.find("401"), std::string::npos) << out1;
  auto [rc2, out2] = shell(bin + " -e " + ep + " --user writer:wpw changes post '{\"ctl\":2}'");
  EXPECT_EQ(rc2, 0) << out2;
  auto [rc3, out3] = shell("CHANGECTL_USER=reader:rpw " + bin + " -e " + ep + " changes get");
  EXPECT_EQ(rc3, 0) << out3;
  EXPECT_NE(out3.find("ctl"), std::string::npos) << out3;
  auto [rc4, out4] =
      shell("CHANGECTL_USER=reader:rpw " + bin + " -e " + ep + " changes post '{\"ctl\":3}'");
  EXPECT_EQ(rc4, 1) << out4;
  EXPECT_NE(out4.find("403"), std::string::npos) << out4;
  auto [rc5, out5] = shell(bin + " -e " + ep + " --user nocolon changes get");
  EXPECT_EQ(rc5, 2) << out5;  // a usage error
}

TEST_F(AuthTest, HtpasswdChangesAreReadOnChangeAndOnSighup) {
  // Added with htpasswd: every node re-reads the changed file on its own.
  auto [rc, out] = shell("htpasswd -B -b " + users_path() + " newcomer npw");
  ASSERT_EQ(rc, 0) << out;
  for (size_t i = 0; i < cluster_->size(); i++) {
    EXPECT_TRUE(eventually(5000ms, [&] {
      return status("newcomer:npw", i, "GET", "/changes") == 200;
    })) << cluster_->node(i).name;
  }
  // Removed: refused at once after the re-read, cached password or not.
  std::tie(rc, out) = shell("htpasswd -D " + users_path() + " newcomer");
  ASSERT_EQ(rc, 0) << out;
  for (size_t i = 0; i < cluster_->size(); i++) {
    EXPECT_TRUE(eventually(5000ms, [&] {
      return status("newcomer:npw", i, "GET", "/changes") == 401;
    })) << cluster_->node(i).name;
  }
  // A new password for the writer, with the file's size and mtime kept:
  // only SIGHUP makes the nodes see it.
  EXPECT_EQ(status("writer:wpw", leader_, "GET", "/changes"), 200);
  auto mtime = fs::last_write_time(users_path());
  std::string before = read_text(users_path());
  std::tie(rc, out) = shell("htpasswd -B -b " + users_path() + " writer wpw2");
  ASSERT_EQ(rc, 0) << out;
  ASSERT_EQ(read_text(users_path()).size(), before.size());
  fs::last_write_time(users_path(), mtime);
  std::this_thread::sleep_for(1500ms);  // past the nodes' change check
  EXPECT_EQ(status("writer:wpw", leader_, "GET", "/changes"), 200);
  EXPECT_EQ(status("writer:wpw2", leader_, "GET", "/changes"), 401);
  for (size_t i = 0; i < cluster_->size(); i++) ::kill(cluster_->node(i).pid, SIGHUP);
  for (size_t i = 0; i < cluster_->size(); i++) {
    EXPECT_TRUE(eventually(5000ms, [&] {
      return status("writer:wpw2", i, "GET", "/changes") == 200;
    })) << cluster_->node(i).name;
    EXPECT_EQ(status("writer:wpw", i, "GET", "/changes"), 401);
  }
  // A broken file is refused: the nodes keep the users they had, and say so.
  std::string good = read_text(users_path());
  std::ofstream(users_path(), std::ios::trunc) << "writer:not-a-bcrypt-hash\n";
  for (size_t i = 0; i < cluster_->size(); i++) ::kill(cluster_->node(i).pid, SIGHUP);
  for (size_t i = 0; i < cluster_->size(); i++) {
    EXPECT_TRUE(eventually(5000ms, [&] {
      return cluster_->read_log(i).find("auth files not reloaded") != std::string::npos;
    })) << cluster_->node(i).name;
    EXPECT_EQ(status("writer:wpw2", i, "GET", "/changes"), 200);
  }
  std::ofstream(users_path(), std::ios::trunc) << good;
  fs::last_write_time(users_path(), fs::file_time_type::clock::now());
}

TEST(AuthStartup, ABadAuthFileStopsTheNodeWithOneLine) {
  ClusterOptions o;
  o.nodes = 1;
  Cluster c(o);
  std::string dir = c.make_dir("bad-auth");
  std::ofstream(dir + "/users") << "alice:$apr1$xyz$abc\n";
  auto r =
      c.run_once({"--name=n1", "--data-dir=" + dir + "/data", "--initial-cluster=n1=127.0.0.1:1",
                  "--listen-client=127.0.0.1:0", "--auth-file=" + dir + "/users"},
                 10000ms);
  ASSERT_TRUE(ok(r));
  EXPECT_FALSE(r->exit.signaled);
  EXPECT_EQ(r->exit.code, 1);
  EXPECT_NE(r->stderr_text.find("line 1"), std::string::npos) << r->stderr_text;
  EXPECT_NE(r->stderr_text.find("htpasswd -B"), std::string::npos) << r->stderr_text;
  auto r2 = c.run_once({"--name=n1", "--data-dir=" + dir + "/data",
                        "--initial-cluster=n1=127.0.0.1:1", "--auth-roles=" + dir + "/users"},
                       10000ms);
  ASSERT_TRUE(ok(r2));
  EXPECT_EQ(r2->exit.code, 1);
  EXPECT_NE(r2->stderr_text.find("need --auth-file"), std::string::npos) << r2->stderr_text;
}

// ---- limits ----

class LimitsTest : public ClusterTest {
 protected:
  void SetUp() override {
    ClusterOptions o;
    o.nodes = 1;
    o.body_bytes_max = 4096;
    o.extra_args = {"--max-header-bytes=2048", "--header-timeout-seconds=1",
                    "--longpoll-waiters-per-client-max=2", "--max-connections=6"};
    start(o);
  }
  uint16_t port() { return cluster_->node(0).client_port; }
};

TEST_F(LimitsTest, OversizedHeaderIs431AndBodyIs413) {
  std::string big_header(3000, 'a');
  std::string r =
      raw_request(port(), "GET /changes HTTP/1.1\r\nHost: x\r\nX-Big: " + big_header + "\r\n\r\n");
  EXPECT_EQ(raw_status(r), 431) << r;
  EXPECT_NE(r.find("headers_too_large"), std::string::npos) << r;
  auto c = cluster_->client(0);
  auto big = c->request("POST", "/changes", "{\"x\":\"" + std::string(5000, 'b') + "\"}");
  EXPECT_TRUE(is_json_error(big, 413, "too_large"));
  // The node goes on serving, and logged each refusal.
  EXPECT_EQ(c->request("GET", "/health")->status, 200);
  EXPECT_TRUE(eventually(2000ms, [&] {
    return cluster_->read_log(0).find("refused with 431") != std::string::npos;
  })) << cluster_->read_log(0);
}

TEST_F(LimitsTest, SlowLorisIsClosedAtTheHeaderDeadline) {
  auto conn = RawConnection::connect(port(), 2000ms);
  ASSERT_TRUE(ok(conn));
  auto start = Clock::now();
  ASSERT_TRUE(ok((*conn)->send("GET /changes HTTP/1.1\r\n")));
  // One header byte every 200 ms keeps an idle timer happy, not a deadline.
  bool closed = false;
  while (ms_since(start) < 5000 && !closed) {
    if (!(*conn)->send("X").is_ok()) closed = true;
    Status s = (*conn)->read_some(Clock::now() + 200ms);
    if (s.code() == common::Code::kUnavailable) closed = true;
  }
  EXPECT_TRUE(closed);
  EXPECT_GE(ms_since(start), 900);
  EXPECT_LT(ms_since(start), 3000);
  EXPECT_TRUE(eventually(
      2000ms, [&] { return cluster_->read_log(0).find("slow client") != std::string::npos; }));
  // A prompt client on a fresh connection is unaffected.
  EXPECT_EQ(cluster_->client(0)->request("GET", "/health")->status, 200);
}

TEST_F(LimitsTest, ExtraLongPollsOfOneClientAre429) {
  auto feed = cluster_->client(0)->get_feed({});
  ASSERT_TRUE(ok(feed));
  std::string since = std::to_string(feed->last_index);
  std::string poll = "GET /changes?since=" + since + "&block=5 HTTP/1.1\r\nHost: x\r\n\r\n";
  std::vector<std::unique_ptr<RawConnection>> held;
  for (int i = 0; i < 2; i++) {
    auto c = RawConnection::connect(port(), 2000ms);
    ASSERT_TRUE(ok(c));
    ASSERT_TRUE(ok((*c)->send(poll)));
    held.push_back(std::move(*c));
  }
  std::this_thread::sleep_for(300ms);  // both are parked
  auto third = cluster_->client(0)->request("GET", "/changes?since=" + since + "&block=5");
  EXPECT_TRUE(is_json_error(third, 429, "too_many_waiters"));
  std::string sse = raw_request(port(), "GET /changes/stream HTTP/1.1\r\nHost: x\r\n\r\n", 2000ms);
  EXPECT_EQ(raw_status(sse), 429) << sse;
  // Reads that do not block are not limited.
  EXPECT_EQ(cluster_->client(0)->request("GET", "/changes")->status, 200);
  // A write wakes the two parked polls; then there is room again.
  ASSERT_TRUE(ok(cluster_->client(0)->post_change(change_of(R"({"wake":1})"))));
  for (auto& c : held) EXPECT_TRUE(c->read_until("\"wake\"", Clock::now() + 3000ms));
  held.clear();
  EXPECT_TRUE(eventually(2000ms, [&] {
    auto r = cluster_->client(0)->request("GET", "/changes?since=0&block=1");
    return r.is_ok() && r->status == 200;
  }));
}

TEST_F(LimitsTest, ConnectionsOverTheMaximumAre503) {
  std::vector<std::unique_ptr<RawConnection>> held;
  for (int i = 0; i < 6; i++) {
    auto c = RawConnection::connect(port(), 2000ms);
    ASSERT_TRUE(ok(c));
    held.push_back(std::move(*c));
  }
  std::this_thread::sleep_for(200ms);  // all accepted
  std::string r = raw_request(port(), "GET /health HTTP/1.1\r\nHost: x\r\n\r\n", 2000ms);
  EXPECT_EQ(raw_status(r), 503) << r;
  EXPECT_NE(r.find("overloaded"), std::string::npos) << r;
  held.clear();
  EXPECT_TRUE(eventually(3000ms, [&] {
    auto h = cluster_->client(0)->request("GET", "/health");
    return h.is_ok() && h->status == 200;
  }));
  EXPECT_NE(cluster_->read_log(0).find("--max-connections"), std::string::npos);
}

}  // namespace
}  // namespace integration
