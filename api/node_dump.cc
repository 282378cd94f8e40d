// GET /admin/dump on the node side: a producer thread reads the store at one
// instant (storage::StoreExport) and writes a changeagent-admin dump into a
// small bounded queue of chunks that the HTTP session drains. The io_context
// thread never reads the store for a dump; the producer waits while the
// queue is full, so memory stays at kDumpQueueChunksMax chunks per dump.
#include <boost/asio/post.hpp>
#include <condition_variable>
#include <deque>
#include <thread>

#include "admin/dump_export.h"
#include "api/node_impl.h"
#include "common/assert.h"

namespace api {

namespace {

constexpr size_t kDumpsMax = 2;            // concurrent dumps per node; more get 503
constexpr size_t kDumpQueueChunksMax = 4;  // of admin::kFlushBytes each

}  // namespace

struct DumpProducer {
  explicit DumpProducer(boost::asio::io_context& io_) : io(io_) {}

  boost::asio::io_context& io;
  std::mutex mu;
  std::condition_variable space;
  std::deque<std::string> chunks;
  bool finished = false;  // the producer wrote its last chunk
  Status result;          // how it finished
  bool cancelled = false;
  std::function<void(Result<std::string>)> waiting;  // a next() with no chunk ready
  std::thread thread;

  // Producer side: blocks while the queue is full.
  Status push(std::string_view bytes) {
    std::unique_lock lock(mu);
    space.wait(lock, [&] { return cancelled || chunks.size() < kDumpQueueChunksMax; });
    if (cancelled) return Status(Code::kUnavailable, "dump cancelled");
    chunks.emplace_back(bytes);
    hand_over(lock);
    return Status::ok();
  }

  void finish(Status s) {
    std::unique_lock lock(mu);
    finished = true;
    result = std::move(s);
    hand_over(lock);
  }

  // With mu held: answers a waiting next() if there is something to say.
  void hand_over(std::unique_lock<std::mutex>& lock) {
    if (!waiting) return;
    if (!chunks.empty()) {
      std::string c = std::move(chunks.front());
      chunks.pop_front();
      space.notify_one();
      boost::asio::post(
          io, [done = std::move(waiting), c = std::move(c)]() mutable { done(std::move(c)); });
      waiting = nullptr;
    } else if (finished) {
      Result<std::string> end =
          result.is_ok() ? Result<std::string>(std::string()) : Result<std::string>(result);
      boost::asio::post(io, [done = std::move(waiting), end = std::move(end)]() mutable {
        done(std::move(end));
      });
      waiting = nullptr;
    }
  }

  void stop() {
    {
      std::lock_guard lock(mu);
      cancelled = true;
      waiting = nullptr;
    }
    space.notify_all();
    if (thread.joinable()) thread.join();
  }
};

namespace {

class DumpStream final : public ByteStream {
 public:
  explicit DumpStream(std::shared_ptr<DumpProducer> p) : p_(std::move(p)) {}
  ~DumpStream() override { p_->stop(); }
  void next(std::function<void(Result<std::string>)> done) override {
    std::unique_lock lock(p_->mu);
    CA_ASSERT(!p_->waiting);
    p_->waiting = std::move(done);
    p_->hand_over(lock);
  }
  std::string content_type() const override { return "application/octet-stream"; }

 private:
  std::shared_ptr<DumpProducer> p_;
};

}  // namespace

Result<std::unique_ptr<ByteStream>> Node::open_dump() {
  Impl& s = *impl_;
  std::erase_if(s.dumps, [](const std::weak_ptr<DumpProducer>& w) {
    auto p = w.lock();
    if (!p) return true;
    std::lock_guard lock(p->mu);
    return p->finished && p->chunks.empty();
  });
  if (s.dumps.size() >= kDumpsMax) {
    return Status(Code::kBusy, std::to_string(kDumpsMax) +
                                   " dumps are already running on this node; retry later");
  }
  auto p = std::make_shared<DumpProducer>(s.io);
  s.dumps.push_back(p);
  storage::Store* store = s.store.get();
  auto log = s.log;
  std::string source = s.opts.client_url;
  // The thread holds a plain pointer: stop() joins it before the producer
  // (and, via stop_dumps, the store) goes away.
  DumpProducer* raw = p.get();
  p->thread = std::thread([raw, store, log, source] {
    auto began = std::chrono::steady_clock::now();
    auto view = store->export_view();
    Status st = view.status();
    admin::DumpWriter w([raw](std::string_view b) { return raw->push(b); });
    uint64_t last = 0;
    if (st.is_ok()) {
      auto h = admin::dump_header(**view, source);
      st = h.status();
      if (st.is_ok()) {
        last = h->last_index();
        log->info("dump started: entries {}..{}, state at {}", h->base_index() + 1, last,
                  h->applied_index());
        admin::ExportHooks hooks;
        hooks.cancelled = [raw] {
          std::lock_guard lock(raw->mu);
          return raw->cancelled;
        };
        st = admin::write_dump(**view, *h, w, hooks);
      }
    }
    if (!st.is_ok()) {
      w.abort(st.message());
      log->warn("dump ended early after {} bytes: {}", w.bytes(), st.to_string());
    } else {
      log->info("dump finished: {} entries up to {}, {} bytes in {:.1f} s", w.entries(), last,
                w.bytes(),
                std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count());
    }
    view = Status(Code::kUnavailable, "released");  // drop the RocksDB snapshot now
    raw->finish(st);
  });
  return std::unique_ptr<ByteStream>(new DumpStream(std::move(p)));
}

void Node::Impl::stop_dumps() {
  for (auto& w : dumps) {
    if (auto p = w.lock()) p->stop();
  }
  dumps.clear();
}

}  // namespace api
