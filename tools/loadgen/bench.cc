#include "tools/loadgen/bench.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <random>

namespace trib::loadgen {
namespace {

constexpr uint64_t kTickMs = 20;
constexpr uint64_t kNsPerSec = 1'000'000'000ull;

uint64_t SecToNs(double s) { return static_cast<uint64_t>(s * 1e9); }

}  // namespace

Bench::Bench(Options o) : opt_(std::move(o)) {
  uv_loop_init(&loop_);
  std::random_device rd;
  run_id_ = opt_.run_id ? opt_.run_id : rd();
  seen_.resize(static_cast<size_t>(std::max(opt_.publishers, 1)));
  if (opt_.client_prefix.empty()) {
    opt_.client_prefix = opt_.clean ? "lg-" + std::to_string(getpid()) + "-" : "lg-";
  }
}

Bench::~Bench() { uv_loop_close(&loop_); }

int Bench::Run() {
  created_ns_ = uv_hrtime();
  const std::string host = opt_.host == "localhost" ? "127.0.0.1" : opt_.host;
  if (uv_ip4_addr(host.c_str(), opt_.port, reinterpret_cast<sockaddr_in*>(&addr_)) != 0 &&
      uv_ip6_addr(host.c_str(), opt_.port, reinterpret_cast<sockaddr_in6*>(&addr_)) != 0) {
    std::fprintf(stderr, "loadgen: --host must be an IP address: %s\n", opt_.host.c_str());
    return 1;
  }
  uv_timer_init(&loop_, &tick_);
  uv_timer_init(&loop_, &rate_tick_);
  uv_timer_init(&loop_, &close_timer_);
  uv_signal_init(&loop_, &sigint_);
  uv_signal_init(&loop_, &sigterm_);
  tick_.data = rate_tick_.data = close_timer_.data = this;
  sigint_.data = sigterm_.data = this;
  uv_timer_start(&tick_, OnTick, kTickMs, kTickMs);
  uv_signal_start(&sigint_, OnSignal, SIGINT);
  uv_signal_start(&sigterm_, OnSignal, SIGTERM);

  double limit = opt_.timeout_s;
  if (limit <= 0 && !opt_.idle) limit = opt_.messages ? 600 : opt_.duration_s + 120;
  if (limit <= 0 && opt_.idle && opt_.hold_s > 0) limit = opt_.hold_s + 300;
  if (limit > 0) deadline_ns_ = created_ns_ + SecToNs(limit);

  std::vector<Client*> first;
  if (opt_.idle) {
    phase_ = Phase::kConnecting;
    for (int i = 0; i < opt_.connections; i++) {
      idle_.push_back(std::make_unique<IdleClient>(this, &loop_, i));
      first.push_back(idle_.back().get());
    }
  } else {
    const uint64_t n = static_cast<uint64_t>(opt_.publishers);
    for (int i = 0; i < opt_.publishers && !opt_.consume; i++) {
      uint64_t quota =
          opt_.messages ? opt_.messages / n + (uint64_t(i) < opt_.messages % n) : UINT64_MAX;
      pubs_.push_back(std::make_unique<Publisher>(this, &loop_, i, quota));
    }
    for (int i = 0; i < opt_.subscribers; i++) {
      subs_.push_back(std::make_unique<Subscriber>(this, &loop_, i));
      first.push_back(subs_.back().get());
    }
    phase_ = subs_.empty() ? Phase::kConnecting : Phase::kSubscribing;
    // Consume mode: what is stored flows as soon as the first subscription
    // exists, so the clock starts with the first connect.
    if (opt_.consume) t0_ = phase_since_ = last_progress_ns_ = uv_hrtime();
    if (subs_.empty()) {
      for (auto& p : pubs_) first.push_back(p.get());
    }
  }
  StartConnects(std::move(first));
  uv_run(&loop_, UV_RUN_DEFAULT);
  if (opt_.idle) {
    ReportIdle();
  } else {
    Report();
  }
  return up_ == 0 && failed_ > 0 ? 1 : 0;
}

void Bench::StartConnects(std::vector<Client*> clients) {
  for (Client* c : clients) to_connect_.push_back(c);
  ConnectMore();
}

void Bench::ConnectMore() {
  while (phase_ != Phase::kDone && connecting_ < opt_.connect_concurrency && !to_connect_.empty()) {
    Client* c = to_connect_.front();
    to_connect_.pop_front();
    int rc = c->Start(reinterpret_cast<const sockaddr*>(&addr_));
    if (rc < 0) {
      failed_++;
      AddError(std::string("connect: ") + uv_strerror(rc));
      continue;
    }
    connecting_++;
  }
  if (phase_ == Phase::kDone || connecting_ > 0 || !to_connect_.empty()) return;
  if (!opt_.idle && failed_ > 0) {
    Finish("connect failed");
    return;
  }
  AllConnected();
}

void Bench::ClientUp(Client* c) {
  c->ready = true;
  connecting_--;
  up_++;
  ConnectMore();
}

void Bench::ClientClosed(Client* c, const std::string& why) {
  if (phase_ == Phase::kDone) return;  // closed by us
  if (!c->ready) {
    connecting_--;
    failed_++;
    AddError(why.empty() ? "closed while connecting" : why);
    ConnectMore();
    return;
  }
  closed_by_broker_++;
  AddError(why);
}

void Bench::AllConnected() {
  const uint64_t now = uv_hrtime();
  if (phase_ == Phase::kSubscribing) {
    phase_ = Phase::kConnecting;
    std::vector<Client*> pubs;
    for (auto& p : pubs_) pubs.push_back(p.get());
    StartConnects(std::move(pubs));
    return;
  }
  t_connected_ = now;
  if (!opt_.idle) {
    BeginPublishing();
    return;
  }
  phase_ = Phase::kHolding;
  if (opt_.hold_s > 0) hold_until_ns_ = now + SecToNs(opt_.hold_s);
  std::fprintf(stderr, "loadgen: %d connected, %d failed in %.2f s\n", up_, failed_,
               double(now - created_ns_) / 1e9);
  if (!opt_.ready_file.empty()) {
    const std::string tmp = opt_.ready_file + ".tmp";
    std::ofstream(tmp) << "connected " << up_ << " failed " << failed_ << "\n";
    std::rename(tmp.c_str(), opt_.ready_file.c_str());
  }
}

void Bench::BeginPublishing() {
  if (opt_.consume) {
    phase_ = Phase::kDraining;  // nothing to publish: wait for the records
    return;
  }
  phase_ = Phase::kPublishing;
  t0_ = uv_hrtime();
  phase_since_ = last_progress_ns_ = t0_;
  if (!opt_.messages) stop_send_ns_ = t0_ + SecToNs(opt_.duration_s);
  if (opt_.rate > 0) uv_timer_start(&rate_tick_, OnRateTick, 1, 1);
  for (auto& p : pubs_) p->Begin(t0_);
}

void Bench::OnRateTick(uv_timer_t* t) {
  Bench* b = static_cast<Bench*>(t->data);
  const uint64_t now = uv_hrtime();
  for (auto& p : b->pubs_) p->Pump(now);
}

void Bench::OnTick(uv_timer_t* t) { static_cast<Bench*>(t->data)->Tick(); }

void Bench::Tick() {
  const uint64_t now = uv_hrtime();
  if (deadline_ns_ && now >= deadline_ns_) {
    timed_out_ = true;
    Finish("timeout");
    return;
  }
  if (++ticks_ % (1000 / kTickMs) == 0) {
    for (auto& c : idle_) c->MaybePing(now);
    for (auto& c : subs_) c->MaybePing(now);
    for (auto& c : pubs_) c->MaybePing(now);
  }
  if (phase_ == Phase::kHolding && hold_until_ns_ && now >= hold_until_ns_) Finish("hold over");
  if (phase_ == Phase::kPublishing || phase_ == Phase::kAwaitAcks || phase_ == Phase::kDraining) {
    CheckProgress(now);
  }
}

void Bench::CheckProgress(uint64_t now) {
  const uint64_t drain = SecToNs(opt_.drain_timeout_s);
  uint64_t acked = 0, inflight = 0, received = 0;
  bool sending = false;
  if (phase_ == Phase::kPublishing && stop_send_ns_ && now >= stop_send_ns_) {
    for (auto& p : pubs_) p->StopSending();
  }
  for (auto& p : pubs_) {
    acked += p->acked();
    inflight += p->inflight();
    sending |= !p->done_sending();
  }
  for (auto& s : subs_) received += s->received();
  const uint64_t mark = acked + received;
  if (mark != progress_mark_) {
    progress_mark_ = mark;
    last_progress_ns_ = now;
  }
  if (phase_ == Phase::kPublishing && !sending) {
    phase_ = Phase::kAwaitAcks;
    send_end_ns_ = now;
    last_progress_ns_ = now;
    if (opt_.qos == 0) {
      for (auto& p : pubs_) p->RequestFlush();
    }
  }
  // QoS 0 waits (up to the run's deadline) until the broker has read everything.
  bool flushed = true;
  for (auto& p : pubs_) flushed &= opt_.qos > 0 || p->flushed();
  if (phase_ == Phase::kAwaitAcks && !flushed) return;
  if (phase_ == Phase::kAwaitAcks && (inflight == 0 || now - last_progress_ns_ > drain)) {
    phase_ = Phase::kDraining;
    last_progress_ns_ = now;
  }
  if (phase_ != Phase::kDraining) return;
  if (AllDelivered()) {
    Finish("done");
  } else if (now - last_progress_ns_ > drain) {
    Finish("drain timeout");
  }
}

bool Bench::AllDelivered() const {
  if (opt_.consume) {
    uint64_t unique = 0;
    for (const SeqSet& s : seen_) unique += s.size();
    return unique >= opt_.consume;
  }
  uint64_t expected = 0;
  for (auto& p : pubs_) expected += opt_.qos > 0 ? p->acked() : p->sent();
  for (auto& s : subs_) {
    if (!s->closed() && s->unique() < expected) return false;
  }
  return true;
}

void Bench::OnSignal(uv_signal_t* s, int) {
  Bench* b = static_cast<Bench*>(s->data);
  b->interrupted_ = true;
  b->Finish("signal");
}

void Bench::Finish(const std::string& why) {
  if (phase_ == Phase::kDone) return;
  phase_ = Phase::kDone;
  end_reason_ = why;
  if (!send_end_ns_) send_end_ns_ = uv_hrtime();
  uv_timer_stop(&tick_);
  uv_timer_stop(&rate_tick_);
  to_connect_.clear();
  for (auto& c : idle_) c->Disconnect();
  for (auto& c : subs_) c->Disconnect();
  for (auto& c : pubs_) c->Disconnect();
  uv_timer_start(&close_timer_, OnCloseTimer, 200, 0);
}

void Bench::OnCloseTimer(uv_timer_t* t) {
  Bench* b = static_cast<Bench*>(t->data);
  for (auto& c : b->idle_) c->Close();
  for (auto& c : b->subs_) c->Close();
  for (auto& c : b->pubs_) c->Close();
  for (uv_handle_t* h :
       {reinterpret_cast<uv_handle_t*>(&b->tick_), reinterpret_cast<uv_handle_t*>(&b->rate_tick_),
        reinterpret_cast<uv_handle_t*>(&b->close_timer_),
        reinterpret_cast<uv_handle_t*>(&b->sigint_),
        reinterpret_cast<uv_handle_t*>(&b->sigterm_)}) {
    uv_close(h, nullptr);
  }
}

void Bench::AddError(const std::string& e) {
  if (errors_.size() < 10 && std::find(errors_.begin(), errors_.end(), e) == errors_.end()) {
    errors_.push_back(e);
  }
}

}  // namespace trib::loadgen
