// The gtest side of the pgha integration tests: a fixture owning one
// PghaCluster (pgha_cluster.h) that prints the agents' log tails and keeps
// the files when a test failed, and the small helpers every test used to
// copy.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <iostream>
#include <memory>

#include "tests/integration/pgha_cluster.h"

namespace integration::pgha {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

inline ::testing::AssertionResult ok(const common::Status& s) {
  if (s.is_ok()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << s.to_string();
}

inline int64_t ms_since(Clock::time_point t) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - t).count();
}

class PghaTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (HasFailure() && c_) {
      std::cerr << c_->log_tails();
      c_->keep_files();
    }
  }
  // A fresh cluster (options as given), bootstrapped per `spec`; its
  // primary's index, or a fatal failure.
  size_t bootstrap(const BootstrapSpec& spec, PghaOptions o = {},
                   milliseconds timeout = milliseconds(120000)) {
    c_ = std::make_unique<PghaCluster>(std::move(o));
    auto p = c_->bootstrap(spec, timeout);
    EXPECT_TRUE(ok(p.status()));
    return p.is_ok() ? *p : c_->size();
  }
  std::unique_ptr<PghaCluster> c_;
};

}  // namespace integration::pgha
