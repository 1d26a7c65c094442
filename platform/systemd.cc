#include "platform/systemd.h"

#include <systemd/sd-daemon.h>

namespace trib::systemd {

void NotifyReady(const std::string& status) {
  std::string msg = "READY=1\nSTATUS=" + status;
  sd_notify(0, msg.c_str());
}

void NotifyStopping() { sd_notify(0, "STOPPING=1"); }

void NotifyStatus(const std::string& status) {
  std::string msg = "STATUS=" + status;
  sd_notify(0, msg.c_str());
}

bool Watchdog::Start(uv_loop_t* loop) {
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return false;
  uv_timer_init(loop, &timer_);
  timer_.data = this;
  uint64_t period_ms = usec / 2000;
  if (period_ms == 0) period_ms = 1;
  uv_timer_start(&timer_, OnTick, period_ms, period_ms);
  uv_unref(reinterpret_cast<uv_handle_t*>(&timer_));
  started_ = true;
  return true;
}

void Watchdog::Stop() {
  if (!started_) return;
  started_ = false;
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
}

void Watchdog::OnTick(uv_timer_t*) { sd_notify(0, "WATCHDOG=1"); }

}  // namespace trib::systemd
