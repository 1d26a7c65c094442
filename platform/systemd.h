// systemd service notification (sd_notify) and watchdog.
//
// Works unchanged outside systemd: every call is a no-op when NOTIFY_SOCKET is
// not set. Thread: loop only (the watchdog timer runs on the caller's loop).
#pragma once

#include <uv.h>

#include <cstdint>
#include <string>

namespace trib::systemd {

void NotifyReady(const std::string& status);
void NotifyStopping();
void NotifyStatus(const std::string& status);

// Pings WATCHDOG=1 at half the interval systemd asked for (WATCHDOG_USEC).
// Does nothing when the watchdog is not enabled. The timer is unref'd so it
// never keeps the loop alive on its own.
class Watchdog {
 public:
  // Returns false when no watchdog is requested.
  bool Start(uv_loop_t* loop);
  // Closes the timer; safe to call when Start returned false.
  void Stop();

 private:
  static void OnTick(uv_timer_t* t);
  uv_timer_t timer_{};
  bool started_ = false;
};

}  // namespace trib::systemd
