// The client's typed calls for membership (issue 5): POST /cluster/members,
// GET/PUT/DELETE /cluster/members/{id}, POST /cluster/members/{id}/promote,
// POST /cluster/leader. No Beast here: everything goes through Client::send.
#include <boost/json.hpp>

#include "api/client.h"
#include "api/http_errors.h"

namespace api {

namespace json = boost::json;

namespace {

bool success(const HttpResponse& r) {
  return r.status >= 200 && r.status < 300;
}

Status status_of(const Result<HttpResponse>& res) {
  if (!res.is_ok()) return res.status();
  if (!success(*res)) return status_from_http(res->status, res->body);
  return Status::ok();
}

std::string member_target(uint64_t id) {
  return "/cluster/members/" + std::to_string(id);
}

// {"id","name","peerURL","clientURL","learner"} as the server renders a member.
Result<MemberView> parse_member(std::string_view body) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec || !v.is_object()) return Status(Code::kInternal, "server sent a malformed member");
  const json::object& o = v.as_object();
  MemberView m;
  const json::value* id = o.if_contains("id");
  if (!id || !id->is_number()) return Status(Code::kInternal, "server sent a member without id");
  m.id = id->to_number<uint64_t>(ec);
  if (ec) return Status(Code::kInternal, "server sent a member id out of range");
  auto str = [&](const char* k) {
    const json::value* p = o.if_contains(k);
    return p && p->is_string() ? std::string(p->as_string()) : std::string();
  };
  m.name = str("name");
  m.peer_url = str("peerURL");
  m.client_url = str("clientURL");
  const json::value* l = o.if_contains("learner");
  m.learner = l && l->is_bool() && l->as_bool();
  return m;
}

}  // namespace

Result<MemberView> Client::add_member(const MemberRequest& req) {
  json::object body{{"name", req.name}, {"peerURL", req.peer_url}};
  if (!req.client_url.empty()) body["clientURL"] = req.client_url;
  if (!req.auto_promote) body["learner"] = true;
  auto res = send("POST", "/cluster/members", json::serialize(body), false);
  if (Status s = status_of(res); !s.is_ok()) return s;
  return parse_member(res->body);
}

Result<MemberView> Client::get_member(uint64_t id) {
  auto res = send("GET", member_target(id), {}, true);
  if (Status s = status_of(res); !s.is_ok()) return s;
  return parse_member(res->body);
}

Status Client::remove_member(uint64_t id, bool force) {
  // Resending a removal whose answer was lost could remove a member that
  // was added again meanwhile, or answer 404 for our own success.
  return status_of(send("DELETE", member_target(id) + (force ? "?force=true" : ""), {}, false));
}

Status Client::promote_member(uint64_t id) {
  // Promoting a voter is a no-op: safe to resend.
  return status_of(send("POST", member_target(id) + "/promote", {}, true));
}

Status Client::update_member(uint64_t id, const std::string& peer_url) {
  return status_of(
      send("PUT", member_target(id), json::serialize(json::object{{"peerURL", peer_url}}), true));
}

Status Client::move_leader(uint64_t id) {
  return status_of(
      send("POST", "/cluster/leader", json::serialize(json::object{{"id", id}}), true));
}

}  // namespace api
