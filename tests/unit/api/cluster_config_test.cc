// The config validator (api/cluster_config.h): each field's bounds and
// types, unknown fields, the rules across settings, round trips.
#include "api/cluster_config.h"

#include <gtest/gtest.h>

namespace api {
namespace {

std::string refusal(std::string_view body) {
  auto p = parse_config_patch(body);
  if (p.is_ok()) return "accepted";
  EXPECT_EQ(p.status().code(), common::Code::kInvalidArgument);
  return p.status().message();
}

struct BadCase {
  const char* body;
  const char* reason_part;  // must appear in the message
};

TEST(ClusterConfigPatch, RefusesEachBadFieldWithItsReason) {
  const BadCase cases[] = {
      {"not json", "not JSON"},
      {"[1]", "JSON object"},
      {"{}", "names no setting"},
      {"{\"revision\": 3}", "names no setting"},
      {"{\"bogus\": 1}", "unknown setting \"bogus\""},
      {"{\"heartbeatIntervalMs\": 9}", "heartbeatIntervalMs must be an integer from 10 to 5000"},
      {"{\"heartbeatIntervalMs\": \"50\"}", "heartbeatIntervalMs must be an integer"},
      {"{\"electionTimeoutMs\": 60001}", "electionTimeoutMs must be an integer from 50 to 60000"},
      {"{\"retentionMinRecords\": -1}", "retentionMinRecords must be an integer"},
      {"{\"retentionMinDurationSeconds\": 1.5}", "retentionMinDurationSeconds must be"},
      {"{\"bodyBytesMax\": 100}", "bodyBytesMax must be an integer from 16384"},
      {"{\"bodyBytesMax\": 33554433}", "to 33554432"},
      {"{\"requestIdWindowSeconds\": 0}", "requestIdWindowSeconds must be an integer from 1"},
      {"{\"revision\": -2, \"bodyBytesMax\": 20000}", "revision must be"},
      {"{\"webhooks\": {}}", "webhooks must be an array"},
      {"{\"webhooks\": [1]}", "webhooks[0] must be an object"},
      {"{\"webhooks\": [{}]}", "webhooks[0].url must be a string"},
      {"{\"webhooks\": [{\"url\": \"ftp://x\"}]}", "must start with http:// or https://"},
      {"{\"webhooks\": [{\"url\": \"https://[::1/\"}]}", "unclosed '['"},
      {"{\"webhooks\": [{\"url\": \"https://[::1]x/\"}]}", "junk after ']'"},
      {"{\"webhooks\": [{\"url\": \"http://:80/\"}]}", "has no host"},
      {"{\"webhooks\": [{\"url\": \"http://h:99999/\"}]}", "bad port '99999'"},
      {"{\"webhooks\": [{\"url\": \"http://h:0/\"}]}", "bad port '0'"},
      {"{\"webhooks\": [{\"url\": \"http://u:p@h/\"}]}", "credentials"},
      {"{\"webhooks\": [{\"url\": \"http://h/a b\"}]}", "space or control"},
      {"{\"webhooks\": [{\"url\": \"http://h/\", \"timeoutMs\": 0}]}",
       "webhooks[0].timeoutMs must be an integer from 1 to 30000"},
      {"{\"webhooks\": [{\"url\": \"http://h/\", \"failurePolicy\": \"maybe\"}]}",
       "\"fail-open\" or \"fail-closed\""},
      {"{\"webhooks\": [{\"url\": \"http://h/\", \"tags\": [\"\"]}]}",
       "webhooks[0].tags must hold non-empty strings"},
      {"{\"webhooks\": [{\"url\": \"http://h/\", \"keyPrefixes\": \"a/\"}]}",
       "webhooks[0].keyPrefixes must be an array"},
      {"{\"webhooks\": [{\"url\": \"http://h/\"}, {\"url\": \"http://h/\", \"x\": 1}]}",
       "webhooks[1] has an unknown field \"x\""},
      {"{\"webhooks\": [{\"url\":\"http://a/\"},{\"url\":\"http://a/\"},{\"url\":\"http://a/\"},"
       "{\"url\":\"http://a/\"},{\"url\":\"http://a/\"},{\"url\":\"http://a/\"},"
       "{\"url\":\"http://a/\"},{\"url\":\"http://a/\"},{\"url\":\"http://a/\"}]}",
       "at most 8 webhooks"},
  };
  for (const auto& c : cases) {
    std::string why = refusal(c.body);
    EXPECT_NE(why.find(c.reason_part), std::string::npos)
        << "body " << c.body << " -> " << why << " (want '" << c.reason_part << "')";
  }
}

TEST(ClusterConfigPatch, AcceptsValidFieldsAsCanonicalValues) {
  auto p = parse_config_patch(
      R"({"heartbeatIntervalMs": 50, "electionTimeoutMs": 500, "retentionMinRecords": 0,
          "bodyBytesMax": null, "revision": 7,
          "webhooks": [{"url": "http://127.0.0.1:8080/check", "tags": ["orders"],
                        "keyPrefixes": ["app/"], "timeoutMs": 300, "failurePolicy": "fail-open"}]})");
  ASSERT_TRUE(p.is_ok()) << p.status().to_string();
  EXPECT_EQ(p->revision, 7u);
  EXPECT_EQ(p->values.at("heartbeatIntervalMs"), "50");
  EXPECT_EQ(p->values.at("electionTimeoutMs"), "500");
  EXPECT_EQ(p->values.at("retentionMinRecords"), "0");
  EXPECT_FALSE(p->values.at("bodyBytesMax").has_value());  // null: unset it
  std::map<std::string, std::string> stored;
  for (const auto& s : config_settings()) {
    auto it = p->values.find(std::string(s.name));
    if (it != p->values.end() && it->second) stored[std::string(s.key)] = *it->second;
  }
  ClusterConfig c = config_from_keys(stored);
  EXPECT_EQ(c.heartbeat_interval_ms, 50u);
  EXPECT_EQ(c.election_timeout_ms, 500u);
  EXPECT_EQ(c.retention_min_records, 0u);
  EXPECT_FALSE(c.body_bytes_max);
  ASSERT_TRUE(c.webhooks);
  ASSERT_EQ(c.webhooks->size(), 1u);
  const Webhook& w = c.webhooks->front();
  EXPECT_EQ(w.host, "127.0.0.1");
  EXPECT_EQ(w.port, "8080");
  EXPECT_EQ(w.target, "/check");
  EXPECT_EQ(w.timeout_ms, 300u);
  EXPECT_TRUE(w.fail_open);
  // What GET renders is a valid PUT body that means the same config.
  auto again = parse_config_patch(render_config_json(c));
  ASSERT_TRUE(again.is_ok()) << again.status().to_string();
  std::map<std::string, std::string> stored2;
  for (const auto& s : config_settings()) {
    auto it = again->values.find(std::string(s.name));
    if (it != again->values.end() && it->second) stored2[std::string(s.key)] = *it->second;
  }
  EXPECT_EQ(config_from_keys(stored2), c);
}

TEST(ClusterConfigPatch, UrlDefaultsPortAndPath) {
  auto p = parse_config_patch(R"({"webhooks": [{"url": "http://validator.local"}]})");
  ASSERT_TRUE(p.is_ok()) << p.status().to_string();
  auto c = config_from_keys({{"_config/webhooks", *p->values.at("webhooks")}});
  ASSERT_TRUE(c.webhooks);
  EXPECT_EQ((*c.webhooks)[0].port, "80");
  EXPECT_EQ((*c.webhooks)[0].target, "/");
  EXPECT_EQ((*c.webhooks)[0].timeout_ms, 2000u);
  EXPECT_FALSE((*c.webhooks)[0].fail_open);  // fail-closed unless asked
  EXPECT_FALSE((*c.webhooks)[0].tls);
}

TEST(ClusterConfigPatch, HttpsUrlsAndIpv6Literals) {
  auto p = parse_config_patch(
      R"({"webhooks": [{"url": "https://validator.local/v"}, {"url": "https://[::1]:8443/x"},
                       {"url": "http://[fe80::1]"}]})");
  ASSERT_TRUE(p.is_ok()) << p.status().to_string();
  auto c = config_from_keys({{"_config/webhooks", *p->values.at("webhooks")}});
  ASSERT_TRUE(c.webhooks);
  ASSERT_EQ(c.webhooks->size(), 3u);
  const auto& w = *c.webhooks;
  EXPECT_TRUE(w[0].tls);
  EXPECT_EQ(w[0].host, "validator.local");
  EXPECT_EQ(w[0].port, "443");
  EXPECT_EQ(w[0].target, "/v");
  EXPECT_TRUE(w[1].tls);
  EXPECT_EQ(w[1].host, "::1");
  EXPECT_EQ(w[1].port, "8443");
  EXPECT_FALSE(w[2].tls);
  EXPECT_EQ(w[2].host, "fe80::1");
  EXPECT_EQ(w[2].port, "80");
}

TEST(ClusterConfigValidate, TimeoutsGoTogetherAndKeepTheRatio) {
  ClusterConfig c;
  EXPECT_TRUE(validate_config(c).is_ok());
  c.heartbeat_interval_ms = 50;
  auto s = validate_config(c);
  EXPECT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("set together"), std::string::npos) << s.message();
  c.election_timeout_ms = 249;
  s = validate_config(c);
  EXPECT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("at least 5 x heartbeatIntervalMs (50)"), std::string::npos)
      << s.message();
  c.election_timeout_ms = 250;
  EXPECT_TRUE(validate_config(c).is_ok());
}

TEST(ClusterConfigKeys, MalformedStoredValuesCountAsUnset) {
  auto c = config_from_keys({{"_config/body_bytes_max", "\"big\""},
                             {"_config/request_id_window", "0"},
                             {"_config/webhooks", "{"},
                             {"_config/retention_min_records", "12"}});
  EXPECT_FALSE(c.body_bytes_max);
  EXPECT_FALSE(c.request_id_window_seconds);
  EXPECT_FALSE(c.webhooks);
  EXPECT_EQ(c.retention_min_records, 12u);
}

TEST(ClusterConfigKeys, RequestIdWindowKeepsItsKey) {
  // The state view reads this key (state/state_view.h): /config must write it.
  bool found = false;
  for (const auto& s : config_settings()) {
    if (s.name == "requestIdWindowSeconds") {
      EXPECT_EQ(s.key, "_config/request_id_window");
      found = true;
    }
  }
  EXPECT_TRUE(found);
}

TEST(WebhookMatch, FiltersByTagOrKeyPrefix) {
  Webhook any;
  EXPECT_TRUE(webhook_matches(any, {}, {}));
  Webhook w;
  w.tags = {"orders"};
  w.key_prefixes = {"app/"};
  EXPECT_TRUE(webhook_matches(w, {"x", "orders"}, {}));
  EXPECT_TRUE(webhook_matches(w, {}, {"app/k"}));
  EXPECT_FALSE(webhook_matches(w, {"order"}, {"ap/k"}));
  EXPECT_FALSE(webhook_matches(w, {}, {}));
}

}  // namespace
}  // namespace api
