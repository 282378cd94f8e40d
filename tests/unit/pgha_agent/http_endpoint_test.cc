// The agent's HTTP endpoint over a real loopback socket: routing to the
// handler, query parameters, and the answers to bad input (a malformed
// request line, an oversized head), plus split_host_port's refusals.
#include "pgha/agent/http_endpoint.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

namespace pgha::agent {
namespace {

// Sends `raw` and returns everything the server wrote before closing.
std::string exchange(uint16_t port, const std::string& raw) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return "";
  }
  (void)::send(fd, raw.data(), raw.size(), MSG_NOSIGNAL);
  ::shutdown(fd, SHUT_WR);  // the whole request is sent
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;)
    out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return out;
}

class HttpEndpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ep = HttpEndpoint::start("127.0.0.1:0", [this](const HttpQuery& q) {
      last_ = q;
      if (q.path == "/primary") return HttpAnswer{200, "primary\n", "text/plain"};
      return HttpAnswer{404, R"({"error":"no such path","code":"not_found"})"};
    });
    ASSERT_TRUE(ep.is_ok()) << ep.status().to_string();
    ep_ = std::move(*ep);
  }
  std::unique_ptr<HttpEndpoint> ep_;
  HttpQuery last_;
};

TEST_F(HttpEndpointTest, RoutesAndDecodesQueryParameters) {
  std::string r =
      exchange(ep_->port(), "GET /primary?member=n%31&epoch=7 HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(r.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << r;
  EXPECT_NE(r.find("Content-Length: 8\r\n"), std::string::npos) << r;
  EXPECT_NE(r.find("\r\n\r\nprimary\n"), std::string::npos) << r;
  EXPECT_EQ(last_.method, "GET");
  EXPECT_EQ(last_.path, "/primary");
  EXPECT_EQ(last_.params["member"], "n1");
  EXPECT_EQ(last_.params["epoch"], "7");
}

TEST_F(HttpEndpointTest, HeadHasNoBodyAndUnknownPathIs404Json) {
  std::string head = exchange(ep_->port(), "HEAD /primary HTTP/1.1\r\n\r\n");
  EXPECT_EQ(head.rfind("HTTP/1.1 200", 0), 0u) << head;
  EXPECT_EQ(head.find("primary\n"), std::string::npos) << head;
  std::string nf = exchange(ep_->port(), "GET /nope HTTP/1.1\r\n\r\n");
  EXPECT_EQ(nf.rfind("HTTP/1.1 404 Not Found", 0), 0u) << nf;
  EXPECT_NE(nf.find(R"("code":"not_found")"), std::string::npos) << nf;
}

TEST_F(HttpEndpointTest, MalformedAndOversizedRequestsAreRefused) {
  std::string bad = exchange(ep_->port(), "garbage\r\n\r\n");
  EXPECT_EQ(bad.rfind("HTTP/1.1 400 Bad Request", 0), 0u) << bad;
  EXPECT_NE(bad.find(R"("code":"invalid_argument")"), std::string::npos) << bad;
  std::string huge = "GET / HTTP/1.1\r\nX: " + std::string(kRequestHeadBytesMax + 10, 'a');
  std::string big = exchange(ep_->port(), huge);
  EXPECT_EQ(big.rfind("HTTP/1.1 431", 0), 0u) << big.substr(0, 80);
  // The endpoint still serves after both.
  EXPECT_EQ(exchange(ep_->port(), "GET /primary HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 200", 0), 0u);
}

TEST(SplitHostPort, RefusesWhatIsNotHostPort) {
  std::string host;
  uint16_t port = 0;
  EXPECT_TRUE(split_host_port("127.0.0.1:8008", host, port).is_ok());
  EXPECT_EQ(host, "127.0.0.1");
  EXPECT_EQ(port, 8008);
  for (const char* bad : {"127.0.0.1", ":80", "host:", "host:99999", "host:8o"}) {
    auto s = split_host_port(bad, host, port);
    EXPECT_EQ(s.code(), common::Code::kInvalidArgument) << bad;
    EXPECT_NE(s.message().find(bad), std::string::npos) << s.message();
  }
  EXPECT_FALSE(
      HttpEndpoint::start("not-an-ip:0", [](const HttpQuery&) { return HttpAnswer{}; }).is_ok());
}

}  // namespace
}  // namespace pgha::agent
