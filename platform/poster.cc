#include "platform/poster.h"

namespace trib {

void Poster::Start(uv_loop_t* loop) {
  uv_async_init(loop, &async_, OnAsync);
  async_.data = this;
  std::lock_guard<std::mutex> g(mu_);
  open_ = true;
}

void Poster::Close() {
  RunQueued();
  {
    std::lock_guard<std::mutex> g(mu_);
    if (!open_) return;
    open_ = false;
    queue_.clear();
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
}

void Poster::Post(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> g(mu_);
    if (!open_) return;
    queue_.push_back(std::move(fn));
  }
  uv_async_send(&async_);
}

void Poster::OnAsync(uv_async_t* a) { static_cast<Poster*>(a->data)->RunQueued(); }

void Poster::RunQueued() {
  {
    std::lock_guard<std::mutex> g(mu_);
    running_.swap(queue_);
  }
  for (auto& fn : running_) fn();
  running_.clear();
}

}  // namespace trib
