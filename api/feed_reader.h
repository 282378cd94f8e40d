// FeedReader: a consumer's loop over the change feed (issue 10). It starts
// from a named cursor (resuming where any earlier reader of that cursor, on
// any node, committed), an index or a commit time; long-polls the feed with
// the client's endpoint failover; reports its lag; turns 410 `compacted`
// into a "needs snapshot" event carrying the first retained index; and
// commits its position to the named cursor every N changes or T time, and
// when it stops.
//
// Delivery is at least once across a crash: a reader that dies redelivers
// (to the next reader of the cursor) the changes after its last commit, at
// most commit_every_changes of them or commit_every of time. A reader that
// stops cleanly (on_change returns false, should_stop, or commit()) commits
// exactly what it delivered, so the next one starts with no gap and no
// duplicate. A consumer that needs exactly once across crashes stores its
// own position with its results and starts from it (since=).
//
// Not thread-safe: one FeedReader per thread. Long-poll only (no SSE).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "api/client.h"

namespace api {

struct FeedReaderOptions {
  ClientOptions client;
  // Resume from and commit to this cursor (empty: no cursor, nothing
  // committed). A cursor that does not exist yet starts at since /
  // since_time_ns (else the beginning) and is created by the first commit.
  std::string cursor;
  std::optional<uint64_t> since;  // start after this change id
  // Or at the first change stamped at or after this time: RFC 3339 or ns
  // since the epoch, passed to the server as sinceTime (which checks it).
  std::optional<std::string> since_time;
  std::vector<std::string> tags;  // OR; empty = all
  std::string prefix;             // only changes writing a key with this prefix
  uint32_t limit = 500;           // changes per round
  uint32_t block_seconds = 10;    // long-poll this long when nothing is new
  // Commit the position when this many changes were delivered since the
  // last commit, or this much time passed with some delivered (0 = never
  // on that ground). Checked between rounds and after each change.
  uint64_t commit_every_changes = 100;
  std::chrono::milliseconds commit_every{1000};
};

class FeedReader {
 public:
  struct Handlers {
    // One change, in id order. Returning false stops the reader after this
    // change (it counts as consumed and is committed).
    std::function<bool(const Change&)> on_change;
    // The position fell below the first index the cluster retains (410
    // compacted): the consumer must load a snapshot or checkpoint covering
    // at least first_index - 1 and return the index it covers, to go on
    // from there; nullopt ends run() with kCompacted. Unset: kCompacted.
    std::function<std::optional<uint64_t>(uint64_t first_index)> on_needs_snapshot;
    // Checked between rounds (every block_seconds at most); true stops.
    std::function<bool()> should_stop;
  };

  // Reads the cursor (if named) to find the start; kInvalidArgument for a
  // bad cursor name or endpoints, or a transient error reading the cursor.
  static Result<std::unique_ptr<FeedReader>> open(FeedReaderOptions opts);
  ~FeedReader();
  FeedReader(const FeedReader&) = delete;
  FeedReader& operator=(const FeedReader&) = delete;

  // Follows the feed until a handler says stop (OK), or an error that
  // retrying cannot fix: kCompacted (no snapshot handler), kConflict (the
  // cursor was moved past us by another reader), 400s. Transient errors
  // (no endpoint answers, 503, 504) are retried with backoff.
  Status run(const Handlers& h);

  // Writes the position to the cursor now (no-op without a cursor or when
  // nothing new was consumed).
  Status commit();
  // Continue after `index` (e.g. after loading a snapshot).
  void seek(uint64_t index);

  // The last change consumed (a `since`): 0 before the first one.
  uint64_t position() const;
  uint64_t committed() const;  // the position last written to the cursor
  // Changes the serving node has applied past position(), as of the last
  // round: how far behind this consumer is.
  uint64_t lag() const;
  // The last round reached the end of the feed on the serving node.
  bool caught_up() const;
  // The endpoint of the last answer (changes on failover).
  const std::string& endpoint() const;

  struct State;

 private:
  explicit FeedReader(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace api
