// The WGL search (Lowe, "Testing for linearizability", 2017), over a doubly
// linked list of call and return events in time order:
//  - at a call, try to linearize its operation now: if the model accepts it
//    and the (linearized set, state) pair is new, lift the call and its
//    return out of the list, push it, and start again from the head;
//  - at a return, the operation it ends was not linearized before it
//    returned, so the last choice was wrong: pop it, put it back, and try
//    the call after it.
// The cache of (linearized set, state) pairs is what keeps this from being
// exponential on the histories real systems produce.
//
// Unknown operations have no return event: nothing forces them to happen,
// so the search succeeds as soon as every operation with a known outcome is
// linearized, whatever unknown calls remain.
#include "tests/chaos/linearizable.h"

#include <algorithm>
#include <cstring>
#include <unordered_set>

namespace chaos {

namespace {

struct Event {
  size_t op = 0;  // index into ops
  bool call = true;
  int64_t time = 0;
  int match = -1;  // the call's return event, or -1 for an unknown op
  int prev = -1, next = -1;
};

class Search {
 public:
  Search(const std::vector<RegisterOp>& ops, int64_t initial) : ops_(ops), state_(initial) {
    build_list();
    linearized_.assign((ops.size() + 63) / 64, 0);
    for (const auto& op : ops) known_left_ += op.unknown ? 0 : 1;
  }

  LinResult run(uint64_t max_steps) {
    LinResult r;
    int entry = events_[0].next;
    while (known_left_ > 0) {
      if (++r.steps > max_steps) {
        r.verdict = LinVerdict::kInconclusive;
        r.detail = "gave up after " + std::to_string(max_steps) + " steps";
        return r;
      }
      if (entry < 0) {  // only unknown calls remain ahead: backtrack
        if (!backtrack(entry)) return violation(r);
        continue;
      }
      Event& e = events_[entry];
      if (e.call) {
        int64_t next_state = state_;
        if (accepts(ops_[e.op], next_state) && remember(e.op, next_state)) {
          stack_.push_back({entry, state_});
          state_ = next_state;
          set_bit(e.op, true);
          if (!ops_[e.op].unknown) known_left_--;
          lift(entry);
          if (stack_.size() > deepest_) deepest_ = stack_.size();
          entry = events_[0].next;
        } else {
          entry = e.next;
        }
      } else {
        if (stack_.size() >= deepest_stuck_) {
          deepest_stuck_ = stack_.size();
          stuck_op_ = e.op;
        }
        if (!backtrack(entry)) return violation(r);
      }
    }
    return r;
  }

 private:
  struct Frame {
    int entry;
    int64_t state;
  };

  void build_list() {
    std::vector<Event> evs;
    for (size_t i = 0; i < ops_.size(); i++) {
      evs.push_back({i, true, ops_[i].invoke_ns, -1, -1, -1});
      if (!ops_[i].unknown) {
        evs.push_back({i, false, std::max(ops_[i].complete_ns, ops_[i].invoke_ns), -1, -1, -1});
      }
    }
    // Time order; at equal times calls first, so that touching operations
    // count as concurrent (the permissive reading of a clock tie).
    std::stable_sort(evs.begin(), evs.end(), [](const Event& a, const Event& b) {
      if (a.time != b.time) return a.time < b.time;
      return a.call && !b.call;
    });
    events_.resize(evs.size() + 1);  // [0] is the head sentinel
    std::vector<int> call_of(ops_.size(), -1);
    for (size_t i = 0; i < evs.size(); i++) {
      int at = static_cast<int>(i + 1);
      events_[at] = evs[i];
      events_[at].prev = at - 1;
      events_[at].next = i + 1 < evs.size() ? at + 1 : -1;
      if (evs[i].call) {
        call_of[evs[i].op] = at;
      } else {
        events_[call_of[evs[i].op]].match = at;
      }
    }
    events_[0].next = evs.empty() ? -1 : 1;
  }

  // The register model: a read must see the current value; a CAS must find
  // value - 1 and leaves value.
  static bool accepts(const RegisterOp& op, int64_t& state) {
    if (op.is_read) return state == op.value;
    if (state != op.value - 1) return false;
    state = op.value;
    return true;
  }

  // True if (linearized set + op, state) was not seen before.
  bool remember(size_t op, int64_t state) {
    std::string key(reinterpret_cast<const char*>(linearized_.data()), linearized_.size() * 8);
    size_t word = op / 64;
    uint64_t bits = linearized_[word] | (uint64_t{1} << (op % 64));
    std::memcpy(key.data() + word * 8, &bits, 8);
    key.append(reinterpret_cast<const char*>(&state), sizeof(state));
    return cache_.insert(std::move(key)).second;
  }

  void set_bit(size_t op, bool on) {
    uint64_t bit = uint64_t{1} << (op % 64);
    if (on) {
      linearized_[op / 64] |= bit;
    } else {
      linearized_[op / 64] &= ~bit;
    }
  }

  void unlink(int i) {
    Event& e = events_[i];
    events_[e.prev].next = e.next;
    if (e.next >= 0) events_[e.next].prev = e.prev;
  }

  void relink(int i) {
    Event& e = events_[i];
    events_[e.prev].next = i;
    if (e.next >= 0) events_[e.next].prev = i;
  }

  void lift(int call) {
    unlink(call);
    if (events_[call].match >= 0) unlink(events_[call].match);
  }

  // Undoes lift in reverse order, so every saved prev/next is valid again.
  void unlift(int call) {
    if (events_[call].match >= 0) relink(events_[call].match);
    relink(call);
  }

  // Undoes the last linearization and moves `entry` past its call.
  bool backtrack(int& entry) {
    if (stack_.empty()) return false;
    Frame f = stack_.back();
    stack_.pop_back();
    const Event& call = events_[f.entry];
    state_ = f.state;
    set_bit(call.op, false);
    if (!ops_[call.op].unknown) known_left_++;
    unlift(f.entry);
    entry = call.next;
    return true;
  }

  LinResult violation(LinResult r) const {
    r.verdict = LinVerdict::kViolation;
    const RegisterOp& op = ops_[stuck_op_];
    r.detail =
        "no order of the operations explains op " + std::to_string(op.op) + " (" +
        (op.is_read ? "read of " + std::to_string(op.value)
                    : "cas " + std::to_string(op.value - 1) + " -> " + std::to_string(op.value)) +
        "); the longest linearizable prefix holds " + std::to_string(deepest_) + " of " +
        std::to_string(ops_.size()) + " operations";
    return r;
  }

  const std::vector<RegisterOp>& ops_;
  std::vector<Event> events_;
  std::vector<uint64_t> linearized_;
  std::vector<Frame> stack_;
  std::unordered_set<std::string> cache_;
  int64_t state_;
  size_t known_left_ = 0;
  size_t deepest_ = 0;
  size_t deepest_stuck_ = 0;
  size_t stuck_op_ = 0;
};

}  // namespace

LinResult check_register(const std::vector<RegisterOp>& ops, int64_t initial, uint64_t max_steps) {
  return Search(ops, initial).run(max_steps);
}

}  // namespace chaos
