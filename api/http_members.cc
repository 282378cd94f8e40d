// Membership over HTTP (issue 5): POST /cluster/members adds a member (JSON
// {"name","peerURL","clientURL"?,"learner"?} or the original changeagent's
// form field address=host:port), GET/PUT/DELETE /cluster/members/{id},
// POST /cluster/members/{id}/promote, POST /cluster/leader {"id"} moves
// leadership. Only the leader changes membership: elsewhere the Service says
// kNotLeader, answered 503 so that clients fail over to the leader.
#include <boost/json.hpp>
#include <boost/url/parse_query.hpp>

#include "api/http_router_internal.h"

namespace api {

namespace asio = boost::asio;
namespace json = boost::json;
using namespace http_detail;

namespace {

json::object member_json(const MemberView& m) {
  return json::object{{"id", m.id},
                      {"name", m.name},
                      {"peerURL", m.peer_url},
                      {"clientURL", m.client_url},
                      {"learner", m.learner}};
}

// "http://host:port/" -> "host:port": members store what peers dial.
std::string strip_scheme(std::string s) {
  auto p = s.find("://");
  if (p != std::string::npos) s = s.substr(p + 3);
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

Result<MemberRequest> parse_member_request(const HttpRequest& req) {
  MemberRequest m;
  const std::string* ct = req.header("content-type");
  if (ct && ct->find("application/x-www-form-urlencoded") != std::string::npos) {
    auto params = boost::urls::parse_query(req.body);
    if (!params) return bad("form body does not parse");
    for (auto p : *params) {
      if (p.key == "address") m.peer_url = strip_scheme(std::string(p.value));
      if (p.key == "name") m.name = std::string(p.value);
    }
    if (m.peer_url.empty()) return bad("form field address=host:port is required");
    if (m.name.empty()) m.name = m.peer_url;
    return m;
  }
  if (!is_json_content_type(ct)) {
    return Status(Code::kInvalidArgument,
                  "send JSON {\"name\",\"peerURL\"} or a form with address=host:port");
  }
  boost::system::error_code ec;
  json::value v = json::parse(req.body, ec);
  if (ec || !v.is_object()) return bad("body must be a JSON object {\"name\",\"peerURL\"}");
  const json::object& o = v.as_object();
  auto str = [&](const char* k) -> std::optional<std::string> {
    auto* p = o.if_contains(k);
    if (!p) return std::string();
    if (!p->is_string()) return std::nullopt;
    return std::string(p->as_string());
  };
  auto name = str("name"), peer = str("peerURL"), client = str("clientURL");
  if (!name || !peer || !client) return bad("name, peerURL and clientURL must be strings");
  m.peer_url = strip_scheme(*peer);
  m.name = name->empty() ? m.peer_url : *name;
  m.client_url = *client;
  if (m.peer_url.empty() || m.peer_url.find(':') == std::string::npos) {
    return bad("peerURL must be host:port (or http://host:port)");
  }
  if (auto* l = o.if_contains("learner")) {
    if (!l->is_bool()) return bad("learner must be true or false");
    m.auto_promote = !l->as_bool();
  }
  return m;
}

// "/cluster/members/123[/promote]" -> (123, promote?)
std::optional<std::pair<uint64_t, bool>> member_path(std::string_view path) {
  std::string_view rest = path.substr(std::string_view("/cluster/members/").size());
  bool promote = rest.ends_with("/promote");
  if (promote) rest.remove_suffix(std::string_view("/promote").size());
  auto id = parse_u64(rest);
  if (!id || *id == 0) return std::nullopt;
  return std::make_pair(*id, promote);
}

}  // namespace

asio::awaitable<HttpReply> Router::dispatch_members(const HttpRequest& req, const std::string& path,
                                                    const Query& q, const Status& qs,
                                                    std::string_view& route_name) {
  const std::string& m = req.method;
  if (!qs.is_ok()) co_return status_reply(qs);
  if (path == "/cluster/leader") {
    route_name = "/cluster/leader";
    if (m != "POST") co_return method_not_allowed("POST");
    boost::system::error_code ec;
    json::value v = json::parse(req.body, ec);
    const json::value* id = (!ec && v.is_object()) ? v.as_object().if_contains("id") : nullptr;
    if (!id || !id->is_number()) co_return status_reply(bad("body must be {\"id\": member id}"));
    uint64_t target = id->to_number<uint64_t>(ec);
    if (ec || target == 0) co_return status_reply(bad("id must be a positive integer"));
    auto op = await_callback<Status>([this, target](std::function<void(Status)> done) {
      svc_.transfer_leadership(target, done);
    });
    Status s = co_await std::move(op);
    if (!s.is_ok()) co_return status_reply(s);
    co_return json_reply(200, json::serialize(json::object{{"leader", target}}));
  }
  if (path == "/cluster/members") {
    route_name = "/cluster/members";
    if (m != "POST") co_return method_not_allowed("GET, POST");
    auto mr = parse_member_request(req);
    if (!mr.is_ok()) co_return status_reply(mr.status());
    MemberRequest r = std::move(*mr);
    auto op = await_callback<Result<MemberView>>(
        [this, &r](std::function<void(Result<MemberView>)> done) { svc_.add_member(r, done); });
    Result<MemberView> added = co_await std::move(op);
    if (!added.is_ok()) co_return status_reply(added.status());
    json::object o = member_json(*added);
    o["clusterId"] = svc_.cluster().cluster_id;
    co_return json_reply(201, json::serialize(o));
  }
  auto mp = member_path(path);
  if (!mp) {
    co_return error_reply(kErrRouteNotFound,
                          "no such resource: " + path + " (members are /cluster/members/{id})");
  }
  // Plain variables, not a structured binding: clang 14 (the fuzz build)
  // cannot capture bindings in the lambdas below.
  uint64_t id = mp->first;
  bool promote = mp->second;
  route_name = promote ? "/cluster/members/{id}/promote" : "/cluster/members/{id}";
  if (promote) {
    if (m != "POST") co_return method_not_allowed("POST");
    auto op = await_callback<Status>(
        [this, id](std::function<void(Status)> done) { svc_.promote_member(id, done); });
    Status s = co_await std::move(op);
    if (!s.is_ok()) co_return status_reply(s);
    co_return json_reply(200, json::serialize(json::object{{"id", id}, {"learner", false}}));
  }
  if (m == "GET") {
    for (const auto& mv : svc_.cluster().members) {
      if (mv.id == id) co_return json_reply(200, json::serialize(member_json(mv)));
    }
    co_return status_reply(Status(Code::kNotFound, "no member " + std::to_string(id)));
  }
  if (m == "DELETE") {
    bool force = q.force;
    auto op = await_callback<Status>([this, id, force](std::function<void(Status)> done) {
      svc_.remove_member(id, force, done);
    });
    Status s = co_await std::move(op);
    if (!s.is_ok()) co_return status_reply(s);
    co_return json_reply(200, json::serialize(json::object{{"id", id}, {"removed", true}}));
  }
  if (m == "PUT") {
    boost::system::error_code ec;
    json::value v = json::parse(req.body, ec);
    const json::value* peer =
        (!ec && v.is_object()) ? v.as_object().if_contains("peerURL") : nullptr;
    if (!peer || !peer->is_string()) co_return status_reply(bad("body must be {\"peerURL\": ...}"));
    std::string url = strip_scheme(std::string(peer->as_string()));
    auto op = await_callback<Status>(
        [this, id, &url](std::function<void(Status)> done) { svc_.update_member(id, url, done); });
    Status s = co_await std::move(op);
    if (!s.is_ok()) co_return status_reply(s);
    co_return json_reply(200, json::serialize(json::object{{"id", id}, {"peerURL", url}}));
  }
  co_return method_not_allowed("GET, PUT, DELETE");
}

}  // namespace api
