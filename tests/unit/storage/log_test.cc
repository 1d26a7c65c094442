// The Log surface: appends read back across batch boundaries, cursors
// committed atomically with appends, retained messages and sessions, reopen
// keeping everything, partition choice and stats.

#include <algorithm>
#include <string>
#include <vector>

#include "tests/unit/storage/storage_test_util.h"

#include "tests/unit/cmocka_cpp.h"  // last

using namespace trib::storage;
using namespace trib::storage::test;

static int Setup(void** state) {
  Fixture* f = NewFixture();
  *state = f;
  return f->dir.empty() ? -1 : 0;
}
static int Teardown(void** state) {
  DeleteFixture(static_cast<Fixture*>(*state));
  return 0;
}

// Reads the whole partition from `from`, in reads of `chunk` records.
static std::vector<std::string> ReadAll(Log* log, StreamId s, uint32_t p, uint64_t from,
                                        size_t chunk) {
  std::vector<std::string> out;
  const uint64_t first = from;
  for (;;) {
    auto r = log->Read(s, p, from, chunk, size_t{1} << 30);
    if (!r.ok()) fail_msg("read failed: %s", r.status().message().c_str());
    if (r->records.empty()) break;
    for (const Record& rec : r->records) {
      if (rec.offset != first + out.size())
        fail_msg("offset %llu, expected %llu", (unsigned long long)rec.offset,
                 (unsigned long long)(first + out.size()));
      out.emplace_back(rec.payload);
    }
    from = r->next_offset;
  }
  return out;
}

static void test_log_round_trip_across_batch_boundaries(void** state) {
  Fixture* f = static_cast<Fixture*>(*state);
  assert_string_equal(OpenLog(f, {Spec("telemetry", 2)}).c_str(), "");
  std::vector<std::string> expect;
  // 3 submissions, ~700 KiB in all: each commit splits into several batches.
  for (int sub = 0; sub < 3; sub++) {
    std::vector<std::string> payloads;
    for (int i = 0; i < 900; i++) payloads.push_back(Payload(expect.size() + i, 250 + i % 50));
    Completion c = AppendWait(f->log.get(), f->streams[0], 1, payloads, sub + 1);
    assert_true(c.status.ok());
    assert_int_equal(c.segments.size(), 1);
    assert_int_equal(c.segments[0].first_offset, expect.size());
    assert_int_equal(c.segments[0].count, 900);
    expect.insert(expect.end(), payloads.begin(), payloads.end());
  }
  assert_true(ReadAll(f->log.get(), f->streams[0], 1, 0, 1000) == expect);
  assert_true(ReadAll(f->log.get(), f->streams[0], 1, 0, 7) == expect);
  std::vector<std::string> tail(expect.begin() + 1234, expect.end());
  assert_true(ReadAll(f->log.get(), f->streams[0], 1, 1234, 333) == tail);
  auto info = f->log->Info(f->streams[0], 1);
  assert_true(info.ok());
  assert_int_equal(info->start_offset, 0);
  assert_int_equal(info->end_offset, 2700);
  assert_true(info->bytes > 700 * 1024);
  auto empty = f->log->Info(f->streams[0], 0);
  assert_int_equal(empty->end_offset, 0);
  Stats st = f->log->GetStats();
  assert_int_equal(st.records_appended, 2700);
  assert_true(st.used_bytes >= info->bytes);
  assert_true(st.commit_us_buckets[Stats::kBuckets] >= 3);  // +Inf counts every commit
}

static void test_log_records_keep_fields_and_order_within_submission(void** state) {
  Fixture* f = static_cast<Fixture*>(*state);
  assert_string_equal(OpenLog(f, {Spec("a", 1), Spec("b", 3)}).c_str(), "");
  WriteBatch b;
  RecordIn r1 = Rec("one", "x/1", "dev1");
  r1.properties = std::string_view("\x03\x00\x01z", 4);
  r1.qos = 2;
  r1.retain = true;
  b.Append(f->streams[1], 2, r1);
  b.Append(f->streams[0], 0, Rec("two"));
  b.Append(f->streams[1], 2, Rec("three"));
  (void)f->log->Submit(std::move(b), 77);
  f->log->Flush();
  f->log->TakeCompletions(&f->completions);
  assert_int_equal(f->completions.size(), 1);
  const Completion& c = f->completions[0];
  assert_int_equal(c.token, 77);
  assert_int_equal(c.segments.size(), 2);  // in order of first append
  assert_int_equal(c.segments[0].stream, f->streams[1]);
  assert_int_equal(c.segments[0].count, 2);
  assert_int_equal(c.segments[1].stream, f->streams[0]);
  auto r = f->log->Read(f->streams[1], 2, 0, 10, 1 << 20);
  assert_true(r.ok());
  assert_int_equal(r->records.size(), 2);
  const Record& rec = r->records[0];
  assert_true(rec.payload == "one" && rec.topic == "x/1" && rec.key == "dev1");
  assert_true(rec.properties == std::string_view("\x03\x00\x01z", 4));
  assert_int_equal(rec.qos, 2);
  assert_true(rec.retain);
  assert_int_equal(rec.timestamp_ms, c.timestamp_ms);
  assert_true(r->records[1].payload == "three");
  assert_int_equal(r->next_offset, 2);
}

static void test_log_cursor_commits_with_appends_and_survives_reopen(void** state) {
  Fixture* f = static_cast<Fixture*>(*state);
  assert_string_equal(OpenLog(f, {Spec("s", 2)}).c_str(), "");
  StreamId s = f->streams[0];
  assert_int_equal(f->log->GetCursor("exp", s, 0).status().code(), Error::kNotFound);
  WriteBatch b;
  b.Append(s, 0, Rec("x"));
  b.CommitCursor("exp", s, 0, 1);
  b.CommitCursor("exp", s, 1, 5);
  b.CommitCursor("other", s, 0, 9);
  (void)f->log->Submit(std::move(b), 1);
  // Nothing is visible before the commit; both are visible after it.
  f->log->Flush();
  auto cur = f->log->GetCursor("exp", s, 0);
  assert_true(cur.ok());
  assert_int_equal(*cur, 1);
  assert_int_equal(f->log->Info(s, 0)->end_offset, 1);
  auto list = f->log->ListCursors("exp");
  assert_int_equal(list.size(), 2);
  assert_int_equal(list[1].partition, 1);
  assert_int_equal(list[1].next_offset, 5);
  // A later commit in the same round wins.
  WriteBatch b2, b3;
  b2.CommitCursor("exp", s, 0, 2);
  b3.CommitCursor("exp", s, 0, 3);
  (void)f->log->Submit(std::move(b2), 2);
  (void)f->log->Submit(std::move(b3), 3);
  f->log->Flush();
  assert_int_equal(*f->log->GetCursor("exp", s, 0), 3);
  assert_string_equal(OpenLog(f, {Spec("s", 2)}).c_str(), "");
  assert_int_equal(*f->log->GetCursor("exp", s, 0), 3);
  assert_int_equal(*f->log->GetCursor("other", s, 0), 9);
  WriteBatch del;
  del.DeleteCursors("exp");
  (void)f->log->Submit(std::move(del), 4);
  f->log->Flush();
  assert_int_equal(f->log->ListCursors("exp").size(), 0);
  assert_int_equal(*f->log->GetCursor("other", s, 0), 9);
}

static void test_log_invalid_submission_fails_whole_and_alone(void** state) {
  Fixture* f = static_cast<Fixture*>(*state);
  assert_string_equal(OpenLog(f, {Spec("s", 1)}).c_str(), "");
  WriteBatch bad, good;
  bad.Append(f->streams[0], 0, Rec("a"));
  bad.Append(f->streams[0], 5, Rec("b"));  // no partition 5
  bad.CommitCursor("c", f->streams[0], 0, 1);
  good.Append(f->streams[0], 0, Rec("c"));
  (void)f->log->Submit(std::move(bad), 1);
  (void)f->log->Submit(std::move(good), 2);
  f->log->Flush();
  f->log->TakeCompletions(&f->completions);
  assert_int_equal(f->completions.size(), 2);
  assert_int_equal(f->completions[0].status.code(), Error::kInvalid);
  assert_true(f->completions[1].status.ok());
  assert_int_equal(f->completions[1].segments[0].first_offset, 0);
  assert_int_equal(f->log->GetCursor("c", f->streams[0], 0).status().code(), Error::kNotFound);
  auto r = f->log->Read(f->streams[0], 0, 0, 10, 1 << 20);
  assert_int_equal(r->records.size(), 1);
  assert_true(r->records[0].payload == "c");
}

static void test_log_retained_and_sessions_round_trip(void** state) {
  Fixture* f = static_cast<Fixture*>(*state);
  assert_string_equal(OpenLog(f, {}).c_str(), "");
  std::string long_topic(2000, 't');
  WriteBatch b;
  b.PutRetained("a/b", "v1");
  b.PutRetained(long_topic, "v2");
  b.PutRetained("gone", "x");
  b.DeleteRetained("gone");
  b.PutSession("client-1", "state-1");
  (void)f->log->Submit(std::move(b), 1);
  f->log->Flush();
  assert_string_equal(OpenLog(f, {}).c_str(), "");
  std::vector<std::pair<std::string, std::string>> seen;
  Status s = f->log->ForEachRetained(
      [&](std::string_view t, std::string_view v) { seen.emplace_back(t, v); });
  assert_true(s.ok());
  assert_int_equal(seen.size(), 2);
  assert_true(seen[0].first == "a/b" && seen[0].second == "v1");
  assert_true(seen[1].first == long_topic && seen[1].second == "v2");
  auto sess = f->log->GetSession("client-1");
  assert_true(sess.ok());
  assert_string_equal(sess->c_str(), "state-1");
  WriteBatch d;
  d.DeleteSession("client-1");
  (void)f->log->Submit(std::move(d), 2);
  f->log->Flush();
  assert_int_equal(f->log->GetSession("client-1").status().code(), Error::kNotFound);
  int sessions = 0;
  assert_true(f->log->ForEachSession([&](std::string_view, std::string_view) { sessions++; }).ok());
  assert_int_equal(sessions, 0);
}

// Idle consumer groups: put, listed with their time across a reopen (a long
// name included: hashed key, whole name in the value), deleted; deleting the
// cursors of one consumer leaves the others'.
static void test_log_idle_groups_round_trip(void** state) {
  Fixture* f = static_cast<Fixture*>(*state);
  assert_string_equal(OpenLog(f, {Spec("s", 1)}).c_str(), "");
  const std::string long_name = "g/workers/" + std::string(900, 'f');
  WriteBatch b;
  b.CommitCursor("g/a/x", f->streams[0], 0, 7);
  b.CommitCursor("g/b/x", f->streams[0], 0, 9);
  b.PutIdleGroup("g/a/x", 1000);
  b.PutIdleGroup(long_name, 2000);
  (void)f->log->Submit(std::move(b), 1);
  f->log->Flush();
  assert_string_equal(OpenLog(f, {Spec("s", 1)}).c_str(), "");
  std::vector<std::pair<std::string, int64_t>> seen;
  assert_true(f->log->ForEachIdleGroup([&](std::string_view n, int64_t t) { seen.emplace_back(n, t); }).ok());
  std::sort(seen.begin(), seen.end());
  assert_int_equal(seen.size(), 2);
  assert_true(seen[0].first == "g/a/x" && seen[0].second == 1000);
  assert_true(seen[1].first == long_name && seen[1].second == 2000);
  WriteBatch d;
  d.DeleteCursors("g/a/x");
  d.DeleteIdleGroup("g/a/x");
  d.DeleteIdleGroup(long_name);
  (void)f->log->Submit(std::move(d), 2);
  f->log->Flush();
  int left = 0;
  assert_true(f->log->ForEachIdleGroup([&](std::string_view, int64_t) { left++; }).ok());
  assert_int_equal(left, 0);
  assert_int_equal(f->log->GetCursor("g/a/x", f->streams[0], 0).status().code(), Error::kNotFound);
  assert_int_equal(*f->log->GetCursor("g/b/x", f->streams[0], 0), 9);
}

static void test_log_reopen_keeps_records_offsets_and_timestamps(void** state) {
  Fixture* f = static_cast<Fixture*>(*state);
  assert_string_equal(OpenLog(f, {Spec("s", 1)}).c_str(), "");
  Completion c1 = AppendWait(f->log.get(), f->streams[0], 0, {"a", "b"});
  assert_true(c1.status.ok());
  PartitionInfo before = *f->log->Info(f->streams[0], 0);
  assert_string_equal(OpenLog(f, {Spec("s", 1)}).c_str(), "");
  PartitionInfo after = *f->log->Info(f->streams[0], 0);
  assert_int_equal(after.end_offset, 2);
  assert_true(after.first_timestamp_ms == before.first_timestamp_ms);
  assert_true(after.last_timestamp_ms == before.last_timestamp_ms);
  assert_true(after.bytes == before.bytes);
  Completion c2 = AppendWait(f->log.get(), f->streams[0], 0, {"c"});
  assert_int_equal(c2.segments[0].first_offset, 2);
  assert_true(c2.timestamp_ms >= c1.timestamp_ms);  // monotone across reopen
  auto r = f->log->Read(f->streams[0], 0, 0, 10, 1 << 20);
  assert_int_equal(r->records.size(), 3);
  assert_true(r->records[2].payload == "c");
}

static void test_log_zstd_stream_round_trip(void** state) {
  Fixture* f = static_cast<Fixture*>(*state);
  StreamSpec z = Spec("z", 1);
  z.compression = Compression::kZstd;
  assert_string_equal(OpenLog(f, {z, Spec("plain", 1)}).c_str(), "");
  std::vector<std::string> payloads;
  for (int i = 0; i < 2000; i++)
    payloads.push_back("{\"temp\":" + std::to_string(20 + i % 5) + "}");
  assert_true(AppendWait(f->log.get(), f->streams[0], 0, payloads).status.ok());
  assert_true(AppendWait(f->log.get(), f->streams[1], 0, payloads, 2).status.ok());
  auto r = f->log->Read(f->streams[0], 0, 10, 5000, 1 << 30);
  assert_true(r.ok());
  assert_int_equal(r->records.size(), 1990);
  for (size_t i = 0; i < r->records.size(); i++)
    assert_true(r->records[i].payload == payloads[i + 10]);
  uint64_t zbytes = f->log->Info(f->streams[0], 0)->bytes;
  uint64_t pbytes = f->log->Info(f->streams[1], 0)->bytes;
  if (zbytes * 2 > pbytes)
    fail_msg("zstd %llu bytes vs plain %llu", (unsigned long long)zbytes,
             (unsigned long long)pbytes);
}

static void test_log_partition_for_is_stable_and_spread(void**) {
  assert_int_equal(PartitionFor("anything", 1), 0);
  assert_int_equal(PartitionFor("dev-1", 8), PartitionFor("dev-1", 8));
  int counts[8] = {};
  for (int i = 0; i < 8000; i++) counts[PartitionFor("dev-" + std::to_string(i), 8)]++;
  for (int c : counts) assert_true(c > 800 && c < 1200);
}

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_log_round_trip_across_batch_boundaries, Setup, Teardown),
      cmocka_unit_test_setup_teardown(test_log_records_keep_fields_and_order_within_submission,
                                      Setup, Teardown),
      cmocka_unit_test_setup_teardown(test_log_cursor_commits_with_appends_and_survives_reopen,
                                      Setup, Teardown),
      cmocka_unit_test_setup_teardown(test_log_invalid_submission_fails_whole_and_alone, Setup,
                                      Teardown),
      cmocka_unit_test_setup_teardown(test_log_retained_and_sessions_round_trip, Setup, Teardown),
      cmocka_unit_test_setup_teardown(test_log_idle_groups_round_trip, Setup, Teardown),
      cmocka_unit_test_setup_teardown(test_log_reopen_keeps_records_offsets_and_timestamps, Setup,
                                      Teardown),
      cmocka_unit_test_setup_teardown(test_log_zstd_stream_round_trip, Setup, Teardown),
      cmocka_unit_test(test_log_partition_for_is_stable_and_spread),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
