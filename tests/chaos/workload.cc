#include "tests/chaos/workload.h"

#include <boost/json.hpp>

#include "api/client.h"

namespace chaos {

using common::Code;
using Millis = std::chrono::milliseconds;

namespace {

// The design's outcome contract: 503 (kUnavailable/kBusy) and 4xx mean the
// change certainly was not appended; anything else without a 2xx answer
// (504 outcome_unknown, a reset after sending, an unparsable answer) may
// have been, so the checker must allow it either way.
Outcome outcome_of(Code code) {
  switch (code) {
    case Code::kOk:
      return Outcome::kOk;
    case Code::kUnavailable:
    case Code::kBusy:
    case Code::kNotLeader:
    case Code::kInvalidArgument:
    case Code::kTooLarge:
      return Outcome::kFailed;
    default:
      return Outcome::kUnknown;
  }
}

std::unique_ptr<api::Client> make_client(const WorkloadConfig& cfg, size_t rotate) {
  api::ClientOptions o;
  // Each client starts at a different node so that followers forward too.
  for (size_t k = 0; k < cfg.endpoints.size(); k++) {
    o.endpoints.push_back(cfg.endpoints[(k + rotate) % cfg.endpoints.size()]);
  }
  o.connect_timeout = Millis(500);
  o.request_timeout = cfg.request_timeout;
  auto c = api::Client::create(o);
  return c.is_ok() ? std::move(c.value()) : nullptr;
}

// After a failure, back off briefly so that a down cluster is not spun on.
void pause_after(Outcome o) {
  if (o != Outcome::kOk) std::this_thread::sleep_for(Millis(20));
}

}  // namespace

Workload::Workload(WorkloadConfig cfg) : cfg_(std::move(cfg)) {
  t0_ = std::chrono::steady_clock::now();
}

Workload::~Workload() {
  stop();
}

int64_t Workload::now_ns() const {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() -
                                                              t0_)
      .count();
}

std::string Workload::payload(uint32_t client, uint64_t n) const {
  return "s" + std::to_string(cfg_.seed) + "-c" + std::to_string(client) + "-" + std::to_string(n);
}

void Workload::start() {
  uint32_t client = 1;
  for (size_t i = 0; i < cfg_.appenders; i++) {
    threads_.emplace_back([this, c = client++] { appender(c); });
  }
  for (size_t i = 0; i < cfg_.counters; i++) {
    for (size_t k = 0; k < cfg_.counter_clients; k++) {
      threads_.emplace_back(
          [this, c = client++, i] { counter(c, "chaos/ctr" + std::to_string(i)); });
    }
  }
  for (size_t i = 0; i < cfg_.readers; i++) {
    threads_.emplace_back([this, c = client++] { reader(c); });
  }
}

void Workload::stop() {
  stop_ = true;
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

void Workload::record(Op op) {
  std::lock_guard lock(mu_);
  ops_.push_back(std::move(op));
}

std::vector<Op> Workload::history() const {
  std::lock_guard lock(mu_);
  return ops_;
}

void Workload::appender(uint32_t client) {
  auto c = make_client(cfg_, client);
  while (!stop_) {
    Op op;
    op.op = next_op_++;
    op.client = client;
    op.kind = OpKind::kAppend;
    op.payload = payload(client, op.op);
    api::ChangeInput in;
    in.data_json = boost::json::serialize(boost::json::object{{"p", op.payload}});
    in.tags = {"chaos"};
    op.invoke_ns = now_ns();
    auto r = c->post_change(in);
    op.complete_ns = now_ns();
    op.outcome = outcome_of(r.status().code());
    if (r.is_ok()) op.id = r->id;
    pause_after(op.outcome);
    record(std::move(op));
  }
}

// Read (consistent), then write value+1 only if the key's revision is still
// the one read. Both are recorded: the counters are checked as linearizable
// registers (a missing key reads as 0).
void Workload::counter(uint32_t client, std::string key) {
  auto c = make_client(cfg_, client);
  while (!stop_) {
    int64_t value = 0;
    uint64_t revision = 0;
    Op read;
    read.op = next_op_++;
    read.client = client;
    read.kind = OpKind::kKeyRead;
    read.key = key;
    read.invoke_ns = now_ns();
    auto kv = c->get_key(key, true);
    read.complete_ns = now_ns();
    if (kv.is_ok()) {
      value = std::stoll(kv->value_json);
      revision = kv->mod_revision;
    } else if (kv.status().code() != Code::kNotFound) {
      std::this_thread::sleep_for(Millis(20));
      continue;
    }
    read.outcome = Outcome::kOk;
    read.value = value;
    record(std::move(read));
    Op op;
    op.op = next_op_++;
    op.client = client;
    op.kind = OpKind::kCas;
    op.key = key;
    op.value = value + 1;
    op.payload = payload(client, op.op);
    api::TxnRequest req;
    req.change.data_json = boost::json::serialize(boost::json::object{{"p", op.payload}});
    req.compares.push_back({key, revision});
    req.ops.push_back({key, false, std::to_string(value + 1), 0});
    op.invoke_ns = now_ns();
    auto r = c->txn(req);
    op.complete_ns = now_ns();
    op.outcome = outcome_of(r.status().code());
    if (r.is_ok() && !r->succeeded) op.outcome = Outcome::kFailed;  // compare failed
    if (r.is_ok() && r->succeeded) op.id = r->id;
    pause_after(op.outcome);
    record(std::move(op));
  }
}

// Reads the tail of the feed with a leader read barrier; records the
// node's applied index after the barrier and the ids seen.
void Workload::reader(uint32_t client) {
  auto c = make_client(cfg_, client);
  uint64_t last = 0;
  while (!stop_) {
    Op op;
    op.op = next_op_++;
    op.client = client;
    op.kind = OpKind::kRead;
    api::FeedRequest req;
    req.since = last > 20 ? last - 20 : 0;
    req.limit = 50;
    req.consistent = true;
    op.invoke_ns = now_ns();
    auto r = c->get_feed(req);
    op.complete_ns = now_ns();
    op.outcome = r.is_ok() ? Outcome::kOk : Outcome::kFailed;  // a read changes nothing
    if (r.is_ok()) {
      op.read_index = r->last_index;
      for (const auto& ch : r->changes) op.read_ids.push_back(ch.id);
      last = std::max(last, r->last_index);
    }
    pause_after(op.outcome);
    std::this_thread::sleep_for(Millis(5));
    record(std::move(op));
  }
}

}  // namespace chaos
