// storage_bench: append throughput of storage::Store with and without group
// commit. A plain program (not Google Benchmark) because each case is a
// timed multi-threaded run with its own store, and the interesting output is
// one table.
//
//   direct: N threads append batches of B entries; each batch is its own
//           synced Store::write (one fsync per batch). Writes are serialized,
//           as they must be for one log.
//   writer: the same N threads submit to storage::Writer and wait for their
//           batch to be acknowledged (closed loop, like clients waiting for
//           commit); whatever queued during one fsync shares the next.
//
// Usage: storage_bench [--dir=PARENT] [--seconds=S] [--threads=N] [--entry_bytes=B]
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/assert.h"
#include "storage/store.h"
#include "storage/writer.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string parent = "/var/tmp";  // a real disk: /tmp may be tmpfs elsewhere
  double seconds = 3.0;             // per case
  int threads = 8;
  size_t entry_bytes = 100;  // payload per entry
};

struct Result {
  uint64_t batches = 0;
  uint64_t entries = 0;
  uint64_t fsyncs = 0;
  double seconds = 0;
};

// Hands out contiguous index ranges in the order batches reach the store.
class Sequencer {
 public:
  std::vector<raftlog::Entry> next(size_t count, const std::string& payload) {
    std::vector<raftlog::Entry> out;
    out.reserve(count);
    for (size_t i = 0; i < count; i++) {
      out.push_back(raftlog::Entry{raftlog::Term(1), raftlog::Index(next_++),
                                   raftlog::EntryType::kNormal, payload});
    }
    return out;
  }
  std::mutex mu;  // held from next() until the batch is handed to the store

 private:
  uint64_t next_ = 1;
};

std::unique_ptr<storage::Store> open_store(const std::string& dir) {
  storage::OpenOptions o;
  o.dir = dir;
  o.create_if_missing = true;
  o.cluster_id = raftlog::ClusterId(1);
  o.node_id = raftlog::NodeId(1);
  auto s = storage::Store::open(o);
  if (!s.is_ok()) {
    std::fprintf(stderr, "storage_bench: %s\n", s.status().to_string().c_str());
    std::exit(1);
  }
  return std::move(s).value();
}

Result run_direct(storage::Store* store, const Options& o, size_t batch) {
  Sequencer seq;
  const std::string payload(o.entry_bytes, 'x');
  std::atomic<uint64_t> batches{0};
  const auto deadline = Clock::now() + std::chrono::duration<double>(o.seconds);
  const auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < o.threads; t++) {
    threads.emplace_back([&] {
      while (Clock::now() < deadline) {
        std::lock_guard lock(seq.mu);
        storage::PersistBatch b;
        b.entries = seq.next(batch, payload);
        b.sync = true;
        common::Status s = store->write(b);
        CA_ASSERT(s.is_ok());
        batches++;
      }
    });
  }
  for (auto& t : threads) t.join();
  Result r;
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  r.batches = batches;
  r.entries = r.batches * batch;
  r.fsyncs = r.batches;
  return r;
}

Result run_writer(storage::Store* store, const Options& o, size_t batch) {
  storage::Writer writer(store);
  Sequencer seq;
  const std::string payload(o.entry_bytes, 'x');
  const auto deadline = Clock::now() + std::chrono::duration<double>(o.seconds);
  const auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < o.threads; t++) {
    threads.emplace_back([&] {
      std::mutex mu;
      std::condition_variable cv;
      while (Clock::now() < deadline) {
        bool done = false;
        {
          std::lock_guard lock(seq.mu);
          storage::PersistBatch b;
          b.entries = seq.next(batch, payload);
          b.sync = true;
          common::Status s = writer.submit(std::move(b), [&](common::Status st) {
            CA_ASSERT(st.is_ok());
            std::lock_guard l(mu);
            done = true;
            cv.notify_one();
          });
          CA_ASSERT(s.is_ok());  // N threads, one batch each: never near the queue limit
        }
        std::unique_lock l(mu);
        cv.wait(l, [&] { return done; });
      }
    });
  }
  for (auto& t : threads) t.join();
  writer.stop();
  Result r;
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  storage::Writer::Counters c = writer.counters();
  r.batches = c.batches;
  r.entries = c.entries;
  r.fsyncs = c.fsyncs;
  return r;
}

bool parse_flag(const char* arg, const char* name, std::string* value) {
  size_t n = std::strlen(name);
  if (std::strncmp(arg, name, n) != 0 || arg[n] != '=') return false;
  *value = arg + n + 1;
  return true;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; i++) {
    std::string v;
    if (parse_flag(argv[i], "--dir", &v)) {
      o.parent = v;
    } else if (parse_flag(argv[i], "--seconds", &v)) {
      o.seconds = std::stod(v);
    } else if (parse_flag(argv[i], "--threads", &v)) {
      o.threads = std::stoi(v);
    } else if (parse_flag(argv[i], "--entry_bytes", &v)) {
      o.entry_bytes = std::stoul(v);
    } else {
      std::fprintf(stderr,
                   "usage: storage_bench [--dir=PARENT] [--seconds=S] [--threads=N] "
                   "[--entry_bytes=B]\n");
      std::exit(2);
    }
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  std::printf("storage_bench: %d threads, %zu-byte entries, %.1f s per case, data under %s\n",
              o.threads, o.entry_bytes, o.seconds, o.parent.c_str());
  std::printf("%-7s %6s %11s %12s %9s %10s %14s\n", "mode", "batch", "batches/s", "entries/s",
              "MB/s", "fsyncs/s", "batches/fsync");
  for (const char* mode : {"direct", "writer"}) {
    for (size_t batch : {1, 16, 256}) {
      std::string tmpl = o.parent + "/storage_bench.XXXXXX";
      if (mkdtemp(tmpl.data()) == nullptr) {
        std::perror("storage_bench: mkdtemp");
        return 1;
      }
      Result r;
      {
        auto store = open_store(tmpl + "/db");
        r = std::strcmp(mode, "direct") == 0 ? run_direct(store.get(), o, batch)
                                             : run_writer(store.get(), o, batch);
      }
      std::filesystem::remove_all(tmpl);
      const double mb = static_cast<double>(r.entries * o.entry_bytes) / 1e6;
      std::printf("%-7s %6zu %11.0f %12.0f %9.2f %10.0f %14.2f\n", mode, batch,
                  static_cast<double>(r.batches) / r.seconds,
                  static_cast<double>(r.entries) / r.seconds, mb / r.seconds,
                  static_cast<double>(r.fsyncs) / r.seconds,
                  r.fsyncs ? static_cast<double>(r.batches) / static_cast<double>(r.fsyncs) : 0.0);
      std::fflush(stdout);
    }
  }
  return 0;
}
