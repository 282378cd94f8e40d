// common/yaml_json.h: YAML typed as JSON, bounded against alias bombs and
// deep nesting, and JSON -> YAML -> JSON a round trip.
#include "common/yaml_json.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace {

namespace json = boost::json;
using common::json_to_yaml;
using common::yaml_to_json;

std::string ok_json(const std::string& yaml) {
  auto r = yaml_to_json(yaml);
  EXPECT_TRUE(r.is_ok()) << yaml << " -> " << r.status().message();
  return r.is_ok() ? *r : "";
}

std::string error_of(const std::string& yaml, const common::YamlLimits& limits = {}) {
  auto r = yaml_to_json(yaml, limits);
  EXPECT_FALSE(r.is_ok()) << yaml << " was accepted as " << (r.is_ok() ? *r : "");
  if (r.is_ok()) return "";
  EXPECT_EQ(r.status().code(), common::Code::kInvalidArgument);
  return r.status().message();
}

TEST(YamlJson, PlainScalarsAreTypedAsJsonQuotedOnesStayStrings) {
  EXPECT_EQ(
      ok_json("a: 50\nb: -3\nc: 1.5\nd: true\ne: False\nf: null\ng: ~\nh:\ni: text\n"),
      R"({"a":50,"b":-3,"c":1.5E0,"d":true,"e":false,"f":null,"g":null,"h":null,"i":"text"})");
  EXPECT_EQ(ok_json("a: \"50\"\nb: 'true'\nc: !!str 7\nd: \"\"\n"),
            R"({"a":"50","b":"true","c":"7","d":""})");
  // Above int64: still an exact integer.
  EXPECT_EQ(ok_json("n: 18446744073709551615\n"), R"({"n":18446744073709551615})");
}

TEST(YamlJson, YamlOnlyValuesStayStringsForTheValidatorToRefuse) {
  EXPECT_EQ(ok_json("a: .inf\nb: .nan\nc: 0x1F\nd: 1_000\ne: 2026-11-29\nf: inf\n"),
            R"({"a":".inf","b":".nan","c":"0x1F","d":"1_000","e":"2026-11-29","f":"inf"})");
}

TEST(YamlJson, ListsMapsAndFlowStyle) {
  EXPECT_EQ(ok_json("webhooks:\n  - url: http://h:1/v\n    tags: [a, b]\n    failOpen: true\n"),
            R"({"webhooks":[{"url":"http://h:1/v","tags":["a","b"],"failOpen":true}]})");
  EXPECT_EQ(ok_json("{x: 1, y: [1, 2]}"), R"({"x":1,"y":[1,2]})");
  EXPECT_EQ(ok_json("- 1\n- two\n"), R"([1,"two"])");
}

TEST(YamlJson, BadInputIsRefusedWithAReason) {
  EXPECT_NE(error_of("a: [1, 2\n").find("not valid YAML"), std::string::npos);
  EXPECT_NE(error_of("a: 1\na: 2\n").find("duplicate key 'a'"), std::string::npos);
  EXPECT_NE(error_of("? [1, 2]\n: x\n").find("map key must be a plain value"), std::string::npos);
  EXPECT_NE(error_of("a: 1\n---\nb: 2\n").find("more than one document"), std::string::npos);
  // yaml-cpp's LoadAll loops forever on these (found by fuzz_yaml_config).
  EXPECT_NE(error_of(",").find("stray ','"), std::string::npos);
  EXPECT_NE(error_of(", a").find("stray ','"), std::string::npos);
  EXPECT_NE(error_of("# only a comment\n").find("empty"), std::string::npos);
  EXPECT_NE(error_of("").find("empty"), std::string::npos);
  EXPECT_NE(error_of("a: *nowhere\n").find("not valid YAML"), std::string::npos);
  // Found by fuzz_yaml_config: a stray byte after a tag reached the JSON.
  EXPECT_NE(error_of("y: [!!st\xa6r 3]\n").find("not valid UTF-8"), std::string::npos);
  EXPECT_NE(error_of(std::string("\b\0\0\0\"\"\"", 7)).find("NUL"), std::string::npos);
  EXPECT_EQ(ok_json("name: \xc3\xbcn\xc3\xaf\n"), "{\"name\":\"\xc3\xbcn\xc3\xaf\"}");
}

TEST(YamlJson, AliasesExpandButAnAliasBombIsRefused) {
  EXPECT_EQ(ok_json("base: &b {x: 1}\ncopy: *b\n"), R"({"base":{"x":1},"copy":{"x":1}})");
  // Each level doubles: 2^40 values from a few hundred bytes.
  std::string bomb = "l0: &l0 [x, x]\n";
  for (int i = 1; i <= 40; i++) {
    bomb += "l" + std::to_string(i) + ": &l" + std::to_string(i) + " [*l" + std::to_string(i - 1) +
            ", *l" + std::to_string(i - 1) + "]\n";
  }
  EXPECT_NE(error_of(bomb).find("expands to more than 100000 values"), std::string::npos);
}

TEST(YamlJson, NestingIsBounded) {
  std::string deep = std::string(65, '[') + std::string(65, ']');
  EXPECT_NE(error_of(deep).find("nests deeper than 64"), std::string::npos);
  EXPECT_EQ(ok_json(std::string(10, '[') + std::string(10, ']')), "[[[[[[[[[[]]]]]]]]]]");
  // Far deeper than any stack could recurse: refused, not a crash (yaml-cpp
  // bounds its own parser's depth; the converter never sees it).
  std::string abyss = std::string(200000, '[');
  EXPECT_FALSE(yaml_to_json(abyss).is_ok());
}

TEST(YamlJson, JsonToYamlReadsBackAsTheSameJson) {
  const std::string cases[] = {
      R"({"heartbeatIntervalMs":20,"webhooks":[{"url":"http://h:1/v","tags":["a"],"failOpen":false}]})",
      R"({"s":["true","50","null","","~","a: b","- x","#c","quote\"d","multi\nline","ünï"]})",
      R"({"n":null,"f":1.5E0,"neg":-7,"big":18446744073709551615,"e":{},"a":[]})",
      // Keys: a YAML-looking one, and one longer than an implicit key may be.
      "{\"- a: b\":1,\"" + std::string(2000, 'k') + "\":2}",
  };
  for (const auto& c : cases) {
    auto yaml = json_to_yaml(c);
    ASSERT_TRUE(yaml.is_ok()) << yaml.status().message();
    auto back = yaml_to_json(*yaml);
    ASSERT_TRUE(back.is_ok()) << *yaml << " -> " << back.status().message();
    EXPECT_EQ(json::parse(*back), json::parse(c)) << *yaml;
  }
  EXPECT_FALSE(json_to_yaml("{").is_ok());
}

TEST(YamlJson, LooksLikeYaml) {
  EXPECT_TRUE(common::looks_like_yaml("{}", "c.yaml"));
  EXPECT_TRUE(common::looks_like_yaml("{}", "c.yml"));
  EXPECT_FALSE(common::looks_like_yaml("a: 1", "c.json"));
  EXPECT_FALSE(common::looks_like_yaml("  \n{\"a\":1}"));
  EXPECT_FALSE(common::looks_like_yaml("[1]"));
  EXPECT_TRUE(common::looks_like_yaml("a: 1"));
}

}  // namespace
