// Replication at the storage level: Log::ReadBatches hands out stored batches
// as they are, WriteBatch::AppendBatch stores them in another log keeping
// offsets and timestamps; duplicates are ignored, overlaps trimmed, gaps
// accepted, bad input refused without storing anything, and all of it
// survives a reopen.

#include <string>
#include <vector>

#include "storage/batch.h"
#include "tests/unit/storage/storage_test_util.h"

#include "tests/unit/cmocka_cpp.h"  // last

using namespace trib::storage;
using namespace trib::storage::test;

namespace {

// The origin is f->log; the replica is f->extra[0] with one stream "o.s".
struct Pair {
  Log* origin;
  Log* replica;
  StreamId os;  // origin stream
  StreamId rs;  // replica stream
};

}  // namespace

static int Setup(void** state) {
  Fixture* f = NewFixture();
  *state = f;
  if (f->dir.empty()) return -1;
  f->options.wall_ms_for_test = [wall = f->wall] { return *wall; };
  *f->wall = 1000000;
  return 0;
}
static int Teardown(void** state) {
  DeleteFixture(static_cast<Fixture*>(*state));
  return 0;
}

static Log* OpenReplica(Fixture* f) {
  std::string dir = MakeTempDir();
  f->extra_dirs.push_back(dir);
  Options o = DefaultOptions(dir);
  auto r = Log::Open(o);
  if (!r.ok()) fail_msg("open replica: %s", r.status().message().c_str());
  f->extra.push_back(std::move(r.value()));
  return f->extra.back().get();
}

static Pair MakePair(Fixture* f, Compression compression, uint32_t partitions = 1) {
  StreamSpec spec = Spec("s", partitions);
  spec.compression = compression;
  if (!OpenLog(f, {spec}).empty()) fail_msg("open origin");
  Log* replica = OpenReplica(f);
  auto id = replica->EnsureStream(Spec("o.s", partitions));
  if (!id.ok()) fail_msg("ensure: %s", id.status().message().c_str());
  return Pair{f->log.get(), replica, f->streams[0], id.value()};
}

// Appends `n` records per submission, `subs` submissions, advancing the clock.
static void Fill(Fixture* f, const Pair& p, uint32_t partition, int subs, int n) {
  for (int s = 0; s < subs; s++) {
    std::vector<std::string> payloads;
    for (int i = 0; i < n; i++) payloads.push_back(Payload(s * n + i, 120 + i % 40));
    Completion c = AppendWait(p.origin, p.os, partition, payloads);
    if (!c.status.ok()) fail_msg("append failed");
    *f->wall += 1500;
  }
}

static std::vector<Completion> SubmitWait(Log* log, WriteBatch&& b) {
  (void)log->Submit(std::move(b), 5);
  log->Flush();
  std::vector<Completion> out;
  log->TakeCompletions(&out);
  return out;
}

// Copies every stored batch of the origin partition into the replica.
static size_t CopyAll(const Pair& p, uint32_t partition, size_t max_bytes) {
  uint64_t from = 0;
  size_t batches = 0;
  for (;;) {
    auto r = p.origin->ReadBatches(p.os, partition, from, max_bytes);
    if (!r.ok()) fail_msg("read batches: %s", r.status().message().c_str());
    if (r->batches.empty()) break;
    WriteBatch b;
    for (const RawBatch& rb : r->batches) b.AppendBatch(p.rs, partition, rb.base_offset, rb.bytes);
    for (const Completion& c : SubmitWait(p.replica, std::move(b))) {
      if (!c.status.ok()) fail_msg("replica commit: %s", c.status.message().c_str());
      for (const auto& seg : c.segments) {
        if (seg.error != Error::kOk) fail_msg("segment error %s", ErrorName(seg.error));
      }
    }
    batches += r->batches.size();
    from = r->next_offset;
  }
  return batches;
}

// Every record of both partitions, as "offset/ts/topic/payload" strings.
static std::vector<std::string> Dump(Log* log, StreamId s, uint32_t partition, uint64_t from = 0) {
  std::vector<std::string> out;
  for (;;) {
    auto r = log->Read(s, partition, from, 1000, size_t{1} << 30);
    if (!r.ok()) fail_msg("read: %s", r.status().message().c_str());
    if (r->records.empty()) break;
    for (const Record& rec : r->records) {
      out.push_back(std::to_string(rec.offset) + "/" + std::to_string(rec.timestamp_ms) + "/" +
                    std::string(rec.topic) + "/" + std::string(rec.payload));
    }
    from = r->next_offset;
  }
  return out;
}

static void CheckSame(const Pair& p, uint32_t partition) {
  auto a = Dump(p.origin, p.os, partition);
  auto b = Dump(p.replica, p.rs, partition);
  assert_int_equal(a.size(), b.size());
  assert_true(a == b);
  auto ia = p.origin->Info(p.os, partition);
  auto ib = p.replica->Info(p.rs, partition);
  assert_int_equal(ia->start_offset, ib->start_offset);
  assert_int_equal(ia->end_offset, ib->end_offset);
  assert_int_equal(ia->first_timestamp_ms, ib->first_timestamp_ms);
}

static void test_replica_keeps_offsets_and_timestamps(void** state) {
  Fixture* f = static_cast<Fixture*>(*state);
  for (Compression c : {Compression::kNone, Compression::kZstd}) {
    Pair p = MakePair(f, c, 2);
    Fill(f, p, 1, 3, 2500);  // ~1 MiB: several stored batches per commit
    // Small reads (one batch each) and big ones give the same result.
    assert_true(CopyAll(p, 1, 1) >= 3);
    CheckSame(p, 1);
    assert_true(Dump(p.replica, p.rs, 0).empty());
    // The replica finds a time the way the origin does.
    for (int64_t t : {int64_t{0}, int64_t{1000000 + 1500}, int64_t{1000000 + 3001}}) {
      assert_int_equal(p.origin->OffsetForTime(p.os, 1, t).value(),
                       p.replica->OffsetForTime(p.rs, 1, t).value());
    }
    Stats st = p.replica->GetStats();
    assert_true(st.replicated_batches >= 3);
    assert_int_equal(st.records_appended, 7500);
    f->extra.clear();
    f->log.reset();
    RemoveTree(f->dir);
    mkdir(f->dir.c_str(), 0700);
  }
}

static void test_replica_ignores_duplicates_and_survives_reopen(void** state) {
  Fixture* f = static_cast<Fixture*>(*state);
  Pair p = MakePair(f, Compression::kNone);
  Fill(f, p, 0, 2, 300);
  CopyAll(p, 0, size_t{1} << 20);
  const uint64_t end = p.replica->Info(p.rs, 0)->end_offset;
  assert_int_equal(end, 600);
  // A replay of everything (a sender that lost its acks) stores nothing.
  auto r = p.origin->ReadBatches(p.os, 0, 0, size_t{1} << 20);
  WriteBatch b;
  for (const RawBatch& rb : r->batches) b.AppendBatch(p.rs, 0, rb.base_offset, rb.bytes);
  auto done = SubmitWait(p.replica, std::move(b));
  assert_int_equal(done.size(), 1);
  assert_true(done[0].status.ok());
  assert_int_equal(done[0].segments.size(), r->batches.size());
  for (size_t i = 0; i < r->batches.size(); i++) {
    assert_int_equal(done[0].segments[i].error, Error::kOk);
    assert_int_equal(done[0].segments[i].duplicates, r->batches[i].count);
    assert_int_equal(done[0].segments[i].first_offset, r->batches[i].base_offset);
  }
  assert_int_equal(p.replica->Info(p.rs, 0)->end_offset, end);
  assert_int_equal(p.replica->GetStats().replicated_duplicates, 600);
  // Reopen: the end is kept, and the replay is still a duplicate.
  f->extra.clear();
  auto reopened = Log::Open(DefaultOptions(f->extra_dirs[0]));
  assert_true(reopened.ok());
  f->extra.push_back(std::move(reopened.value()));
  p.replica = f->extra[0].get();
  p.rs = *p.replica->FindStream("o.s");
  assert_int_equal(p.replica->Info(p.rs, 0)->end_offset, end);
  WriteBatch again;
  again.AppendBatch(p.rs, 0, r->batches[0].base_offset, r->batches[0].bytes);
  done = SubmitWait(p.replica, std::move(again));
  assert_int_equal(done[0].segments[0].duplicates, r->batches[0].count);
  Fill(f, p, 0, 1, 50);
  CopyAll(p, 0, size_t{1} << 20);
  CheckSame(p, 0);
}

static void test_replica_trims_a_partial_overlap(void** state) {
  Fixture* f = static_cast<Fixture*>(*state);
  for (Compression c : {Compression::kNone, Compression::kZstd}) {
    Pair p = MakePair(f, c);
    Fill(f, p, 0, 2, 10);  // batches [0,10) and [10,20), 1.5 s apart
    auto r = p.origin->ReadBatches(p.os, 0, 0, size_t{1} << 20);
    assert_int_equal(r->batches.size(), 2);
    // The replica has [0,10); the second batch arrives claiming base 7, so
    // its first 3 records are offsets the replica already has.
    WriteBatch b;
    b.AppendBatch(p.rs, 0, 0, r->batches[0].bytes);
    b.AppendBatch(p.rs, 0, 7, r->batches[1].bytes);
    auto done = SubmitWait(p.replica, std::move(b));
    assert_int_equal(done[0].segments[1].error, Error::kOk);
    assert_int_equal(done[0].segments[1].duplicates, 3);
    assert_int_equal(p.replica->Info(p.rs, 0)->end_offset, 17);
    auto rec = p.replica->Read(p.rs, 0, 10, 100, size_t{1} << 20);
    assert_int_equal(rec->records.size(), 7);
    auto orig = p.origin->Read(p.os, 0, 13, 100, size_t{1} << 20);
    for (size_t i = 0; i < 7; i++) {
      assert_int_equal(rec->records[i].offset, 10 + i);
      assert_true(rec->records[i].payload == orig->records[i].payload);
      assert_int_equal(rec->records[i].timestamp_ms, orig->records[i].timestamp_ms);
    }
    f->extra.clear();
    f->log.reset();
    RemoveTree(f->dir);
    mkdir(f->dir.c_str(), 0700);
  }
}

static void test_replica_refuses_bad_batches_and_keeps_good_ones(void** state) {
  Fixture* f = static_cast<Fixture*>(*state);
  Pair p = MakePair(f, Compression::kNone, 2);
  Fill(f, p, 0, 1, 20);
  auto r = p.origin->ReadBatches(p.os, 0, 0, size_t{1} << 20);
  const std::string good(r->batches[0].bytes);
  std::string flipped = good;
  flipped[kBatchHeaderBytes + 5] ^= 0x40;  // CRC mismatch
  std::string magic = good;
  magic[0] = 'X';
  std::string truncated = good.substr(0, good.size() - 3);
  // A CRC-correct batch whose body is not records.
  std::string junk(kBatchHeaderBytes + 64, '\xff');
  const Chunk chunk{junk.data() + kBatchHeaderBytes, 64};
  EncodeBatch(junk.data(), std::span<const Chunk>(&chunk, 1), 3, 5);
  // The right records with a count that does not match them.
  std::string miscount(good.size(), '\0');
  const Chunk body{good.data() + kBatchHeaderBytes, good.size() - kBatchHeaderBytes};
  EncodeBatch(miscount.data(), std::span<const Chunk>(&body, 1), 21, 5);
  WriteBatch b;
  for (const std::string* bad : {&flipped, &magic, &truncated, &junk, &miscount})
    b.AppendBatch(p.rs, 0, 0, *bad);
  b.AppendBatch(p.rs, 7, 0, good);      // no such partition
  b.AppendBatch(p.rs + 100, 0, 0, good);  // no such stream
  b.AppendBatch(p.rs, 1, 0, good);      // fine: partition 1 of the replica
  b.Append(p.rs, 0, Rec("plain"));       // an ordinary record in the same submission
  auto done = SubmitWait(p.replica, std::move(b));
  assert_int_equal(done.size(), 1);
  assert_true(done[0].status.ok());
  const auto& segs = done[0].segments;
  assert_int_equal(segs.size(), 9);
  for (int i = 0; i < 5; i++) assert_int_equal(segs[i].error, Error::kCorrupt);
  assert_int_equal(segs[5].error, Error::kInvalid);
  assert_int_equal(segs[6].error, Error::kInvalid);
  assert_int_equal(segs[7].error, Error::kOk);
  assert_int_equal(segs[8].error, Error::kOk);
  assert_int_equal(segs[8].first_offset, 0);
  // Nothing of the bad ones was stored: partition 0 holds the plain record only.
  auto all = Dump(p.replica, p.rs, 0);
  assert_int_equal(all.size(), 1);
  assert_int_equal(p.replica->Info(p.rs, 1)->end_offset, 20);
  assert_int_equal(p.replica->GetStats().corrupt_batches, 0);
}

static void test_replica_accepts_gaps_and_readers_cope(void** state) {
  Fixture* f = static_cast<Fixture*>(*state);
  Pair p = MakePair(f, Compression::kNone);
  Fill(f, p, 0, 3, 10);  // [0,10) [10,20) [20,30)
  auto r = p.origin->ReadBatches(p.os, 0, 0, size_t{1} << 20);
  assert_int_equal(r->batches.size(), 3);
  // The replica starts at 100 (the origin lost its head) and jumps to 500.
  WriteBatch b;
  b.AppendBatch(p.rs, 0, 100, r->batches[0].bytes);
  b.AppendBatch(p.rs, 0, 110, r->batches[1].bytes);
  b.AppendBatch(p.rs, 0, 500, r->batches[2].bytes);
  auto done = SubmitWait(p.replica, std::move(b));
  for (const auto& s : done[0].segments) assert_int_equal(s.error, Error::kOk);
  for (int pass = 0; pass < 2; pass++) {
    auto info = p.replica->Info(p.rs, 0);
    assert_int_equal(info->start_offset, 100);
    assert_int_equal(info->end_offset, 510);
    assert_int_equal(p.replica->Read(p.rs, 0, 0, 10, 1 << 20).status().code(), Error::kOutOfRange);
    auto all = Dump(p.replica, p.rs, 0, 100);
    assert_int_equal(all.size(), 30);
    assert_true(all[19].rfind("119/", 0) == 0);
    assert_true(all[20].rfind("500/", 0) == 0);
    // Reading from inside the gap starts after it.
    auto in_gap = p.replica->Read(p.rs, 0, 300, 5, 1 << 20);
    assert_int_equal(in_gap->records[0].offset, 500);
    auto raw = p.replica->ReadBatches(p.rs, 0, 300, 1 << 20);
    assert_int_equal(raw->batches.size(), 1);
    assert_int_equal(raw->batches[0].base_offset, 500);
    assert_int_equal(raw->next_offset, 510);
    auto from_end = p.replica->ReadBatches(p.rs, 0, 510, 1 << 20);
    assert_true(from_end->batches.empty());
    // Counted when stored (counters start at zero with each open).
    assert_int_equal(p.replica->GetStats().replicated_gaps, pass == 0 ? 2 : 0);
    // Reopen: the same picture.
    f->extra.clear();
    auto reopened = Log::Open(DefaultOptions(f->extra_dirs[0]));
    assert_true(reopened.ok());
    f->extra.push_back(std::move(reopened.value()));
    p.replica = f->extra[0].get();
  }
}

static void test_replica_retention_deletes_replicated_batches(void** state) {
  Fixture* f = static_cast<Fixture*>(*state);
  Pair p = MakePair(f, Compression::kNone);
  Fill(f, p, 0, 3, 10);
  auto r = p.origin->ReadBatches(p.os, 0, 0, size_t{1} << 20);
  WriteBatch b;
  b.AppendBatch(p.rs, 0, 0, r->batches[0].bytes);
  b.AppendBatch(p.rs, 0, 50, r->batches[1].bytes);  // a gap of 40 after the first
  (void)SubmitWait(p.replica, std::move(b));
  // A tiny byte limit: retention deletes head batches; counted by records.
  assert_true(p.replica->UpdateRetention(p.rs, 0, 1, OnFull::kDropOldest).ok());
  for (int i = 0; i < 200 && p.replica->Info(p.rs, 0)->start_offset < 60; i++) {
    WriteBatch nudge;
    nudge.CommitCursor("x", p.rs, 0, 0);
    (void)SubmitWait(p.replica, std::move(nudge));
  }
  auto info = p.replica->Info(p.rs, 0);
  assert_int_equal(info->start_offset, 60);
  assert_int_equal(info->end_offset, 60);
  assert_int_equal(p.replica->GetStats().retention_deleted_records, 20);
}

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_replica_keeps_offsets_and_timestamps, Setup, Teardown),
      cmocka_unit_test_setup_teardown(test_replica_ignores_duplicates_and_survives_reopen, Setup,
                                      Teardown),
      cmocka_unit_test_setup_teardown(test_replica_trims_a_partial_overlap, Setup, Teardown),
      cmocka_unit_test_setup_teardown(test_replica_refuses_bad_batches_and_keeps_good_ones, Setup,
                                      Teardown),
      cmocka_unit_test_setup_teardown(test_replica_accepts_gaps_and_readers_cope, Setup, Teardown),
      cmocka_unit_test_setup_teardown(test_replica_retention_deletes_replicated_batches, Setup,
                                      Teardown),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
