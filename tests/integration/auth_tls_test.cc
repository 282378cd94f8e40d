// A client certificate's CN standing for a user (--auth-cn-map), through a
// real HTTPS listener (docs/SECURITY.md "Client certificates"). One node
// serves HTTPS with --ca (certificates verified when offered, not
// required) and basic auth; certificates come from tools/gen-test-certs,
// the password file from Debian's `htpasswd -B`.
//
// CN map: "client" -> admin (the harness's own certificate), "cn-writer"
// -> writer, "cn-reader" -> reader; "cn-stranger" is signed by the CA but
// not mapped.
#include <stdlib.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>

#include "tests/integration/test_util.h"

namespace integration {
namespace {

namespace fs = std::filesystem;

std::pair<int, std::string> shell(const std::string& cmd) {
  std::string out;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return {-1, "popen failed"};
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  int rc = pclose(p);
  return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, out};
}

class AuthTlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/changeagent-auth-tls-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) {
      start_ = Status(common::Code::kIoError, "mkdtemp failed");
      return;
    }
    dir_ = tmpl;
    auto [rc, out] =
        shell(std::string(GEN_TEST_CERTS) + " " + dir_ + " cn-writer cn-reader cn-stranger");
    if (rc != 0) {
      start_ = Status(common::Code::kIoError, "gen-test-certs failed: " + out);
      return;
    }
    bool first = true;
    for (auto [user, pw] : {std::pair{"reader", "rpw"}, {"writer", "wpw"}, {"admin", "apw"}}) {
      auto [hrc, hout] = shell("htpasswd -B -b " + std::string(first ? "-c " : "") + dir_ +
                               "/users " + user + " " + pw);
      first = false;
      if (hrc != 0) {
        start_ = Status(common::Code::kIoError, "htpasswd (apache2-utils) failed: " + hout);
        return;
      }
    }
    std::ofstream(dir_ + "/roles") << "reader:read\nwriter:write\nadmin:admin\n";
    std::ofstream(dir_ + "/cn-map") << "client:admin\ncn-writer:writer\ncn-reader:reader\n";
    ClusterOptions o;
    o.nodes = 1;
    o.https = true;
    o.client_ca = file("ca.crt");
    o.client_cert = file("client.crt");
    o.client_key = file("client.key");
    // No --client-cert-auth: a certificate is verified when offered, and
    // clients without one use basic auth.
    o.extra_args = {"--cert=" + file("server.crt"),     "--key=" + file("server.key"),
                    "--ca=" + file("ca.crt"),           "--peer-cert=" + file("peer.crt"),
                    "--peer-key=" + file("peer.key"),   "--peer-ca=" + file("ca.crt"),
                    "--auth-file=" + dir_ + "/users",   "--auth-roles=" + dir_ + "/roles",
                    "--auth-cn-map=" + dir_ + "/cn-map"};
    cluster_ = new Cluster(o);
    start_ = cluster_->start_all();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }
  void SetUp() override {
    ASSERT_TRUE(ok(start_));
    ASSERT_TRUE(ok(cluster_->wait_for_leader(Millis(10000))));
  }
  void TearDown() override { report_on_failure(cluster_); }

  static std::string file(const std::string& name) { return dir_ + "/" + name; }

  // A request over HTTPS with client certificate `cert` ("" = none) and
  // basic auth `user` ("" = none).
  Result<api::HttpResponse> as(const std::string& cert, const std::string& user,
                               std::string_view method, std::string_view target,
                               std::string body = {}) {
    api::ClientOptions o;
    o.endpoints = {cluster_->client_url(0)};
    o.ca_file = file("ca.crt");
    if (!cert.empty()) {
      o.cert_file = file(cert + ".crt");
      o.key_file = file(cert + ".key");
    }
    o.basic_auth = user;
    o.connect_timeout = Millis(2000);
    o.request_timeout = Millis(5000);
    auto c = api::Client::create(o);
    if (!c.is_ok()) return c.status();
    return (*c)->request(method, target, std::move(body));
  }
  int status(const std::string& cert, const std::string& user, std::string_view method,
             std::string_view target, std::string body = {}) {
    auto r = as(cert, user, method, target, std::move(body));
    return r.is_ok() ? r->status : 0;
  }

  static inline Cluster* cluster_ = nullptr;
  static inline Status start_ = Status::ok();
  static inline std::string dir_;
};

TEST_F(AuthTlsTest, AMappedCertificateIsItsUserWithItsRole) {
  // cn-writer writes with no password, but is not an admin.
  EXPECT_EQ(status("client-cn-writer", "", "POST", "/changes", R"({"by":"cert"})"), 201);
  EXPECT_EQ(status("client-cn-writer", "", "GET", "/changes"), 200);
  EXPECT_TRUE(
      is_json_error(as("client-cn-writer", "", "POST", "/cluster/leader", "{}"), 403, "forbidden"));
  // cn-reader reads and may not write.
  EXPECT_EQ(status("client-cn-reader", "", "GET", "/changes"), 200);
  auto r = as("client-cn-reader", "", "POST", "/changes", R"({"x":1})");
  EXPECT_TRUE(is_json_error(r, 403, "forbidden"));
  if (r.is_ok()) {
    EXPECT_NE(r->body.find("user 'reader' has role read"), std::string::npos) << r->body;
  }
  // "client" is the admin.
  EXPECT_EQ(status("client", "", "GET", "/diagnostics"), 200);
}

TEST_F(AuthTlsTest, AnUnmappedCertificateNeedsCredentials) {
  auto r = as("client-cn-stranger", "", "GET", "/changes");
  EXPECT_TRUE(is_json_error(r, 401, "unauthorized"));
  if (r.is_ok()) {
    EXPECT_NE(r->body.find("cn-stranger"), std::string::npos) << r->body;
  }
  // The challenge, as curl sees it.
  auto [rc, out] =
      shell("curl -s -i --max-time 5 --cacert " + file("ca.crt") + " --cert " +
            file("client-cn-stranger.crt") + " --key " + file("client-cn-stranger.key") + " " +
            cluster_->client_url(0) + "/changes");
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("HTTP/1.1 401"), std::string::npos) << out;
  EXPECT_NE(out.find("WWW-Authenticate: Basic realm=\"changeagent\""), std::string::npos) << out;
  // With a password it is that user.
  EXPECT_EQ(status("client-cn-stranger", "writer:wpw", "POST", "/changes", R"({"x":2})"), 201);
  // /health needs nothing.
  EXPECT_EQ(status("client-cn-stranger", "", "GET", "/health"), 200);
}

TEST_F(AuthTlsTest, CredentialsSentWithACertificateWin) {
  // A reader's certificate with the writer's password: the writer.
  EXPECT_EQ(status("client-cn-reader", "writer:wpw", "POST", "/changes", R"({"x":3})"), 201);
  // The admin's certificate with a wrong password: refused, not the admin.
  EXPECT_TRUE(is_json_error(as("client", "admin:wrong", "GET", "/changes"), 401, "unauthorized"));
  // The writer's certificate with the reader's password: the reader.
  EXPECT_TRUE(is_json_error(as("client-cn-writer", "reader:rpw", "POST", "/changes", "{}"), 403,
                            "forbidden"));
}

TEST_F(AuthTlsTest, WithoutACertificateBasicAuthDecides) {
  EXPECT_TRUE(is_json_error(as("", "", "GET", "/changes"), 401, "unauthorized"));
  EXPECT_EQ(status("", "reader:rpw", "GET", "/changes"), 200);
  EXPECT_TRUE(is_json_error(as("", "reader:rpw", "POST", "/changes", "{}"), 403, "forbidden"));
  EXPECT_EQ(status("", "", "GET", "/health"), 200);
}

TEST_F(AuthTlsTest, ACertificateOfAnotherCaIsRefusedAtTheHandshake) {
  // Even with good credentials: a certificate that does not chain to --ca
  // is never taken as anyone's.
  auto r = as("wrong-client", "admin:apw", "GET", "/health");
  EXPECT_FALSE(r.is_ok()) << (r.is_ok() ? std::to_string(r->status) : "");
}

TEST_F(AuthTlsTest, TheCnMapIsReReadWhenItChanges) {
  EXPECT_TRUE(is_json_error(as("client-cn-stranger", "", "GET", "/changes"), 401, "unauthorized"));
  std::ofstream(file("cn-map"), std::ios::app) << "cn-stranger:reader\n";
  bool mapped = false;
  for (auto deadline = Clock::now() + Millis(5000); !mapped && Clock::now() < deadline;) {
    mapped = status("client-cn-stranger", "", "GET", "/changes") == 200;
    if (!mapped) std::this_thread::sleep_for(Millis(100));
  }
  EXPECT_TRUE(mapped) << "the node did not re-read --auth-cn-map";
  EXPECT_TRUE(
      is_json_error(as("client-cn-stranger", "", "POST", "/changes", "{}"), 403, "forbidden"));
}

}  // namespace
}  // namespace integration
