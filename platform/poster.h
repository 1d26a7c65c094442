// Poster: the one way other threads reach the loop thread.
//
// Any thread calls Post(fn); the loop thread runs every posted function, in
// order, from a uv_async_t callback. Posting is cheap (a lock and a vector
// push) and wakes the loop at most once per batch, since libuv coalesces
// uv_async_send calls.
//
// Thread: Post() is thread-safe; Start/Close and the callbacks run on the loop.
// Functions posted after Close() are dropped (never run).
#pragma once

#include <uv.h>

#include <functional>
#include <mutex>
#include <vector>

namespace trib {

class Poster {
 public:
  // REQUIRES: called on the loop thread before any Post().
  void Start(uv_loop_t* loop);
  // Runs what is queued, then closes the handle.
  void Close();
  void Post(std::function<void()> fn);

 private:
  static void OnAsync(uv_async_t* a);
  void RunQueued();

  uv_async_t async_{};
  std::mutex mu_;
  std::vector<std::function<void()>> queue_;
  std::vector<std::function<void()>> running_;
  bool open_ = false;
};

}  // namespace trib
