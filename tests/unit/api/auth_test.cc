// Authentication and authorization: the pure parts (base64, basic auth
// header, htpasswd/roles/CN files, the route->role table, bcrypt through
// libcrypt) and the HTTP behaviour over a real HttpServer on the FakeService
// test double (401 with WWW-Authenticate, 403, /health open, the cache, a
// reload when the file changes).
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <filesystem>
#include <fstream>
#include <thread>

#include "api/auth_files.h"
#include "api/basic_auth.h"
#include "api/http_auth.h"
#include "api/http_router.h"
#include "tests/unit/api/test_server.h"

namespace api::test {
namespace {

using namespace std::chrono_literals;

// bcrypt hashes made with `htpasswd -nbB -C 5 NAME PASSWORD` (fixtures):
// alice/secret and bob/pw.
constexpr const char* kAliceSecret = "$2y$05$KPhQJjdZMMY9m3IJsNBotOyB3KL8vat/KMtXvWd6ShbGLuZbCAuze";
constexpr const char* kBobPw = "$2y$05$R2XREfv3dPHMwGyvF3LEseRy.Sz2cZdJohMLKqFCCPG15PIUB.nii";

TEST(Base64, RoundTripsAndRefusesNonCanonical) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("user:password"), "dXNlcjpwYXNzd29yZA==");
  for (const std::string& s :
       std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0\xff\x10", 3)}) {
    EXPECT_EQ(base64_decode(base64_encode(s)), s);
  }
  EXPECT_FALSE(base64_decode("Zg="));       // length not a multiple of 4
  EXPECT_FALSE(base64_decode("Zh=="));      // non-zero bits under the padding
  EXPECT_FALSE(base64_decode("Z=g="));      // a digit after padding
  EXPECT_FALSE(base64_decode("Zm9v!A=="));  // not an alphabet character
  EXPECT_FALSE(base64_decode("=Zm9"));
}

TEST(BasicAuth, ParsesTheHeader) {
  auto c = parse_basic_auth(basic_auth_header("alice:se:cret"));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->user, "alice");
  EXPECT_EQ(c->password, "se:cret");  // the first colon splits (RFC 7617)
  EXPECT_TRUE(parse_basic_auth("bAsIc   " + base64_encode("a:b")));
  EXPECT_FALSE(parse_basic_auth("Bearer " + base64_encode("a:b")));
  EXPECT_FALSE(parse_basic_auth("Basic"));
  EXPECT_FALSE(parse_basic_auth("Basic " + base64_encode("nocolon")));
  EXPECT_FALSE(parse_basic_auth("Basic " + base64_encode(":pw")));  // empty user
  EXPECT_FALSE(parse_basic_auth("Basic " + base64_encode(std::string("a:b\0c", 5))));
  EXPECT_FALSE(parse_basic_auth("Basicx" + base64_encode("a:b")));
}

TEST(AuthFiles, ParsesHtpasswdRolesAndCnMap) {
  AuthTables t;
  std::string users =
      std::string("# comment\n\nalice:") + kAliceSecret + "\r\nbob:" + kBobPw + "\n";
  ASSERT_TRUE(parse_htpasswd(users, "users", t).is_ok());
  EXPECT_EQ(t.password_hash.size(), 2u);
  EXPECT_EQ(t.role_of("alice"), Role::kAdmin);  // no roles file: everyone is admin
  ASSERT_TRUE(parse_roles("alice: write\n# x\n", "roles", t).is_ok());
  EXPECT_EQ(t.role_of("alice"), Role::kWrite);
  EXPECT_EQ(t.role_of("bob"), Role::kRead);  // a roles file makes the rest readers
  AuthTables t2;
  ASSERT_TRUE(parse_roles("*:write\ncarol:admin\n", "roles", t2).is_ok());
  EXPECT_EQ(t2.role_of("anyone"), Role::kWrite);
  EXPECT_EQ(t2.role_of("carol"), Role::kAdmin);
  ASSERT_TRUE(parse_cn_map("client.example:com:alice\nops:bob\n", "cn", t).is_ok());
  EXPECT_EQ(t.cn_users.at("client.example:com"), "alice");  // split at the last colon
  EXPECT_EQ(t.cn_users.at("ops"), "bob");
}

TEST(AuthFiles, RefusesBadLinesWithFileAndLine) {
  AuthTables t;
  auto s = parse_htpasswd("alice:$apr1$abc$def\n", "/etc/users", t);
  EXPECT_EQ(s.code(), common::Code::kInvalidArgument);
  EXPECT_NE(s.message().find("/etc/users line 1"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("htpasswd -B"), std::string::npos) << s.message();
  std::string twice = std::string("a:") + kAliceSecret + "\na:" + kBobPw + "\n";
  EXPECT_NE(parse_htpasswd(twice, "u", t).message().find("line 2"), std::string::npos);
  EXPECT_FALSE(parse_htpasswd("no colon here\n", "u", t).is_ok());
  EXPECT_FALSE(parse_roles("alice:root\n", "r", t).is_ok());
  EXPECT_FALSE(parse_roles("*:read\n*:write\n", "r", t).is_ok());
  EXPECT_FALSE(parse_cn_map(":alice\n", "c", t).is_ok());
  auto missing = load_auth_tables({"/nonexistent/users", "", ""});
  EXPECT_EQ(missing.status().code(), common::Code::kIoError);
  EXPECT_NE(missing.status().message().find("--auth-file"), std::string::npos);
}

TEST(AuthFiles, BcryptMatchesOnlyTheRightPassword) {
  EXPECT_TRUE(bcrypt_matches("secret", kAliceSecret));
  EXPECT_FALSE(bcrypt_matches("Secret", kAliceSecret));
  EXPECT_FALSE(bcrypt_matches("", kAliceSecret));
  EXPECT_TRUE(bcrypt_matches("pw", kBobPw));
  EXPECT_FALSE(bcrypt_matches("pw", "$2y$05$tooshort"));
}

TEST(RequiredRole, OneTableForEveryRoute) {
  struct Case {
    const char* method;
    const char* path;
    Role need;
  };
  const Case cases[] = {
      {"GET", "/health", Role::kNone},
      {"PUT", "/health", Role::kAdmin},
      {"GET", "/metrics", Role::kRead},
      {"GET", "/diagnostics/raft", Role::kRead},
      {"GET", "/changes", Role::kRead},
      {"GET", "/changes/stream", Role::kRead},
      {"POST", "/changes", Role::kWrite},
      {"POST", "/changes/batch", Role::kWrite},
      {"POST", "/txn", Role::kWrite},
      {"GET", "/keys/a", Role::kRead},
      {"PUT", "/keys/a", Role::kWrite},
      {"DELETE", "/keys/a", Role::kWrite},
      {"POST", "/leases", Role::kWrite},
      {"PUT", "/leases/5", Role::kWrite},
      {"GET", "/cluster", Role::kRead},
      {"GET", "/cluster/members", Role::kRead},
      {"POST", "/cluster/members", Role::kAdmin},
      {"DELETE", "/cluster/members/7", Role::kAdmin},
      {"PUT", "/cluster/members/7", Role::kAdmin},
      {"POST", "/cluster/members/7/promote", Role::kAdmin},
      {"POST", "/cluster/leader", Role::kAdmin},
      {"GET", "/config", Role::kAdmin},
      {"GET", "/admin/dump", Role::kAdmin},
      {"PUT", "/config", Role::kAdmin},
      {"GET", "/nonexistent", Role::kRead},
      {"PATCH", "/nonexistent", Role::kWrite},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(required_role(c.method, c.path), c.need) << c.method << " " << c.path;
  }
}

// A temp dir with users (alice admin, bob read, carol write) for a server.
class AuthServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/auth-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    write(users_path(),
          std::string("alice:") + kAliceSecret + "\nbob:" + kBobPw + "\ncarol:" + kBobPw + "\n");
    write(roles_path(), "alice:admin\ncarol:write\n");
    AuthOptions ao;
    ao.files = {users_path(), roles_path(), ""};
    ao.reload_check_interval = 0ms;
    auto a = Authenticator::create(ao);
    ASSERT_TRUE(a.is_ok()) << a.status().to_string();
    HttpOptions opts;
    opts.auth = *a;
    server_ = std::make_unique<TestServer>(opts);
  }
  void TearDown() override {
    server_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::string users_path() const { return dir_ + "/users"; }
  std::string roles_path() const { return dir_ + "/roles"; }
  static void write(const std::string& path, const std::string& text) {
    std::ofstream(path, std::ios::trunc) << text;
  }
  std::unique_ptr<Client> as(const std::string& user) {
    ClientOptions o;
    o.basic_auth = user;
    return server_->client(o);
  }
  int status(const std::string& user, const char* method, const char* target,
             std::string body = {}) {
    auto r = as(user)->request(method, target, std::move(body));
    EXPECT_TRUE(r.is_ok()) << r.status().to_string();
    return r.is_ok() ? r->status : 0;
  }

  std::string dir_;
  std::unique_ptr<TestServer> server_;
};

TEST_F(AuthServerTest, NoCredentialsIs401WithChallenge) {
  RawConnection conn(server_->server->port());
  conn.send("GET /changes HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  std::string r = conn.read_all();
  EXPECT_EQ(raw_status(r), 401) << r;
  EXPECT_NE(r.find("WWW-Authenticate: Basic realm=\"changeagent\""), std::string::npos) << r;
  EXPECT_NE(r.find("\"code\":\"unauthorized\""), std::string::npos) << r;
  EXPECT_EQ(status("", "GET", "/health"), 200);  // /health never needs auth
}

TEST_F(AuthServerTest, WrongPasswordUnknownUserAndBadHeaderAre401) {
  EXPECT_EQ(status("alice:wrong", "GET", "/changes"), 401);
  EXPECT_EQ(status("nobody:secret", "GET", "/changes"), 401);
  RawConnection conn(server_->server->port());
  conn.send(
      "GET /changes HTTP/1.1\r\nHost: x\r\nAuthorization: Basic !!!\r\n"
      "Connection: close\r\n\r\n");
  EXPECT_EQ(raw_status(conn.read_all()), 401);
}

TEST_F(AuthServerTest, RolesDecideWhatAUserMayDo) {
  const std::string change = R"({"data":1})";
  EXPECT_EQ(status("bob:pw", "GET", "/changes"), 200);
  auto denied = as("bob:pw")->request("POST", "/changes", change);
  ASSERT_TRUE(denied.is_ok());
  EXPECT_EQ(denied->status, 403);
  EXPECT_NE(denied->body.find("\"code\":\"forbidden\""), std::string::npos) << denied->body;
  EXPECT_NE(denied->body.find("needs role write"), std::string::npos) << denied->body;
  EXPECT_EQ(status("carol:pw", "POST", "/changes", change), 201);
  EXPECT_EQ(status("carol:pw", "PUT", "/health?up=false"), 403);
  EXPECT_EQ(status("alice:secret", "PUT", "/health?up=false"), 200);
  EXPECT_EQ(status("alice:secret", "PUT", "/health?up=true"), 200);
  EXPECT_EQ(status("alice:secret", "POST", "/changes", change), 201);
  EXPECT_EQ(status("bob:pw", "GET", "/metrics"), 200);
  EXPECT_EQ(status("", "GET", "/metrics"), 401);
}

TEST_F(AuthServerTest, ChangedFileIsReloadedAndDropsCachedPasswords) {
  EXPECT_EQ(status("alice:secret", "GET", "/changes"), 200);  // now cached
  // bob's hash for alice: "secret" no longer works, cache or not.
  write(users_path(), std::string("alice:") + kBobPw + "\n");
  EXPECT_EQ(status("alice:secret", "GET", "/changes"), 401);
  EXPECT_EQ(status("alice:pw", "GET", "/changes"), 200);
  EXPECT_EQ(status("bob:pw", "GET", "/changes"), 401);  // removed
  // A broken file keeps the tables in use.
  write(users_path(), "alice:plaintext\n");
  EXPECT_EQ(status("alice:pw", "GET", "/changes"), 200);
}

// A verified client certificate's CN (HttpRequest::client_cert_cn, set by
// the HTTPS listener) maps to a user through --auth-cn-map.
TEST(AuthCnMap, CertificateCnActsAsItsMappedUser) {
  char tmpl[] = "/tmp/auth-test-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  std::ofstream(dir + "/users") << "alice:" << kAliceSecret << "\n";
  std::ofstream(dir + "/roles") << "alice:admin\nreporter:read\n";
  std::ofstream(dir + "/cn") << "ops.example.com:alice\nreports.example.com:reporter\n";
  AuthOptions ao;
  ao.files = {dir + "/users", dir + "/roles", dir + "/cn"};
  auto a = Authenticator::create(ao);
  ASSERT_TRUE(a.is_ok()) << a.status().to_string();
  auto check = [&](const std::string& cn, const std::string& method, std::string auth = {}) {
    HttpRequest req;
    req.method = method;
    req.target = "/changes";
    req.client_cert_cn = cn;
    if (!auth.empty()) req.headers.emplace_back("authorization", basic_auth_header(auth));
    boost::asio::io_context io;
    std::optional<HttpReply> out;
    std::string path = "/changes";
    boost::asio::co_spawn(io, (*a)->check(req, path), [&](std::exception_ptr e, auto r) {
      ASSERT_FALSE(e);
      out = std::move(r);
    });
    io.run();
    return out ? out->status : 200;
  };
  EXPECT_EQ(check("ops.example.com", "POST"), 200);
  EXPECT_EQ(check("reports.example.com", "GET"), 200);
  EXPECT_EQ(check("reports.example.com", "POST"), 403);  // the mapped user's role
  EXPECT_EQ(check("stranger.example.com", "GET"), 401);
  EXPECT_EQ(check("", "GET"), 401);
  // Credentials sent with a certificate win over it.
  EXPECT_EQ(check("reports.example.com", "POST", "alice:secret"), 200);
  EXPECT_EQ(check("ops.example.com", "GET", "alice:wrong"), 401);
  std::filesystem::remove_all(dir);
}

TEST(AuthServer, StartRefusesABadFile) {
  char tmpl[] = "/tmp/auth-test-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string path = std::string(tmpl) + "/users";
  std::ofstream(path) << "alice:{SHA}abc\n";
  AuthOptions ao;
  ao.files.users_path = path;
  auto a = Authenticator::create(ao);
  EXPECT_EQ(a.status().code(), common::Code::kInvalidArgument);
  EXPECT_NE(a.status().message().find(path + " line 1"), std::string::npos);
  std::filesystem::remove_all(tmpl);
}

}  // namespace
}  // namespace api::test
