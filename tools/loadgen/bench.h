// Bench: one load generator run. Owns the loop, the clients and the timers;
// connects subscribers first (and waits for their SUBACK), then publishers,
// then publishes, waits for acknowledgements and deliveries, and prints one
// JSON line of results. In idle mode it opens many connections and holds
// them until a hold time or a signal.
//
// Thread: loop only (Run blocks the calling thread until the run is over).
// Failures (connect refused, broker disconnects) end up in the report's
// "errors"; they never throw.
#pragma once

#include <uv.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "tools/loadgen/client.h"
#include "tools/loadgen/options.h"

namespace trib::loadgen {

class Bench {
 public:
  explicit Bench(Options o);
  ~Bench();
  Bench(const Bench&) = delete;
  Bench& operator=(const Bench&) = delete;

  // Runs to the end and prints the JSON report to stdout. Returns the exit
  // code: 0 when the run happened (whatever its numbers), 1 when it could not.
  int Run();

  // For the clients.
  const Options& options() const { return opt_; }
  uint32_t run_id() const { return run_id_; }
  void ClientUp(Client* c);
  void ClientClosed(Client* c, const std::string& why);
  // Records (publisher, seq) as received by any subscriber; false when some
  // subscriber already had it (for shared subscriptions: delivered twice).
  bool MarkSeen(uint32_t publisher, uint64_t seq) { return seen_[publisher].Insert(seq); }

 private:
  enum class Phase {
    kSubscribing,
    kConnecting,
    kPublishing,
    kAwaitAcks,
    kDraining,
    kHolding,
    kDone
  };

  static void OnTick(uv_timer_t* t);
  static void OnRateTick(uv_timer_t* t);
  static void OnCloseTimer(uv_timer_t* t);
  static void OnSignal(uv_signal_t* s, int signum);
  void Tick();
  void StartConnects(std::vector<Client*> clients);
  void ConnectMore();
  void BeginPublishing();
  void CheckProgress(uint64_t now);
  bool AllDelivered() const;
  void AllConnected();
  void Finish(const std::string& why);
  void AddError(const std::string& e);
  void Report() const;
  void ReportIdle() const;

  Options opt_;
  uv_loop_t loop_;
  sockaddr_storage addr_{};
  uint32_t run_id_ = 0;
  Phase phase_ = Phase::kSubscribing;
  std::vector<std::unique_ptr<Publisher>> pubs_;
  std::vector<std::unique_ptr<Subscriber>> subs_;
  std::vector<std::unique_ptr<IdleClient>> idle_;
  std::vector<SeqSet> seen_;  // per publisher, over all subscribers
  std::deque<Client*> to_connect_;
  int connecting_ = 0, up_ = 0, failed_ = 0, closed_by_broker_ = 0;
  std::vector<std::string> errors_;
  uv_timer_t tick_, rate_tick_, close_timer_;
  uv_signal_t sigint_, sigterm_;
  uint64_t ticks_ = 0;
  uint64_t created_ns_ = 0, t0_ = 0, t_connected_ = 0, phase_since_ = 0, send_end_ns_ = 0;
  uint64_t deadline_ns_ = 0, stop_send_ns_ = 0, hold_until_ns_ = 0;
  uint64_t last_progress_ns_ = 0, progress_mark_ = 0;
  bool timed_out_ = false, interrupted_ = false;
  std::string end_reason_;
};

}  // namespace trib::loadgen
