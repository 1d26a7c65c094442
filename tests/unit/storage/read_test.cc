// Reads: starting inside a batch, limits, offsets past either end, time
// lookups, and a corrupt batch (a flipped byte in a copy of the environment)
// being reported, counted and skipped.

#include <string>
#include <vector>

#include "tests/unit/storage/storage_test_util.h"

#include "tests/unit/cmocka_cpp.h"  // last

using namespace trib::storage;
using namespace trib::storage::test;

static int Setup(void** state) {
  Fixture* f = NewFixture();
  int64_t* wall = f->wall.get();
  *wall = 1000;
  f->options.wall_ms_for_test = [wall] { return *wall; };
  *state = f;
  return f->dir.empty() ? -1 : 0;
}
static int Teardown(void** state) {
  DeleteFixture(static_cast<Fixture*>(*state));
  return 0;
}

static void test_read_starts_inside_a_batch_and_honours_limits(void** state) {
  Fixture* f = static_cast<Fixture*>(*state);
  assert_string_equal(OpenLog(f, {Spec("s")}).c_str(), "");
  std::vector<std::string> p;
  for (int i = 0; i < 10; i++) p.push_back(Payload(i));
  assert_true(AppendWait(f->log.get(), f->streams[0], 0, p).status.ok());
  auto r = f->log->Read(f->streams[0], 0, 5, 2, 1 << 20);
  assert_true(r.ok());
  assert_int_equal(r->records.size(), 2);
  assert_int_equal(r->records[0].offset, 5);
  assert_true(r->records[0].payload == p[5]);
  assert_int_equal(r->next_offset, 7);
  // max_bytes smaller than one record still returns one.
  r = f->log->Read(f->streams[0], 0, 7, 100, 1);
  assert_int_equal(r->records.size(), 1);
  assert_int_equal(r->records[0].offset, 7);
  // About 3 records' worth of bytes.
  r = f->log->Read(f->streams[0], 0, 0, 100, 3 * 115);
  assert_true(r->records.size() >= 2 && r->records.size() <= 3);
  // Past the end: nothing, and the caller keeps its position.
  r = f->log->Read(f->streams[0], 0, 10, 100, 1 << 20);
  assert_true(r.ok());
  assert_int_equal(r->records.size(), 0);
  assert_int_equal(r->next_offset, 10);
  r = f->log->Read(f->streams[0], 0, 50, 100, 1 << 20);
  assert_int_equal(r->records.size(), 0);
  assert_int_equal(f->log->Read(f->streams[0], 1, 0, 1, 1).status().code(), Error::kInvalid);
  assert_int_equal(f->log->Read(99, 0, 0, 1, 1).status().code(), Error::kInvalid);
}

static void test_read_below_start_is_out_of_range(void** state) {
  Fixture* f = static_cast<Fixture*>(*state);
  StreamSpec s = Spec("s");
  s.max_age_ms = 10000;
  assert_string_equal(OpenLog(f, {s}).c_str(), "");
  assert_true(AppendWait(f->log.get(), f->streams[0], 0, {"a", "b", "c"}).status.ok());
  *f->wall += 60000;  // before this process appended: also needs the monotonic clock
  assert_true(AppendWait(f->log.get(), f->streams[0], 0, {"d"}, 2).status.ok());
  // The first batch is 60 s old by the wall clock but only ms old by the
  // monotonic one, so it stays (see retention_test for the jump rules).
  assert_int_equal(f->log->Info(f->streams[0], 0)->start_offset, 0);
  // Reopen: the first batch predates this process, so wall time decides.
  assert_string_equal(OpenLog(f, {s}).c_str(), "");
  assert_true(AppendWait(f->log.get(), f->streams[0], 0, {"e"}, 3).status.ok());
  assert_int_equal(f->log->Info(f->streams[0], 0)->start_offset, 3);
  auto r = f->log->Read(f->streams[0], 0, 1, 10, 1 << 20);
  assert_int_equal(r.status().code(), Error::kOutOfRange);
  assert_non_null(strstr(r.status().message().c_str(), "start 3"));
  r = f->log->Read(f->streams[0], 0, 3, 10, 1 << 20);
  assert_int_equal(r->records.size(), 2);
  assert_true(r->records[0].payload == "d");
}

static void test_read_offset_for_time(void** state) {
  Fixture* f = static_cast<Fixture*>(*state);
  assert_string_equal(OpenLog(f, {Spec("s")}).c_str(), "");
  StreamId s = f->streams[0];
  assert_int_equal(*f->log->OffsetForTime(s, 0, 5), 0);  // empty: the end
  // Commits at t = 1000, 1000, 1500, 2000, 5000, ... (3 records each); the
  // clock going back to 1200 is stamped 5000 (monotone).
  const int64_t times[] = {1000, 1000, 1500, 2000, 5000, 1200, 9000};
  for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
    *f->wall = times[i];
    Completion c = AppendWait(f->log.get(), s, 0, {"a", "b", "c"}, i + 1);
    assert_true(c.status.ok());
    assert_int_equal(c.timestamp_ms, i == 5 ? 5000 : times[i]);
  }
  struct {
    int64_t t;
    uint64_t offset;
  } cases[] = {{0, 0},     {1000, 0},  {1001, 6},  {1500, 6},  {1501, 9},  {2000, 9},
               {4999, 12}, {5000, 12}, {5001, 18}, {9000, 18}, {9001, 21}, {INT64_MAX, 21}};
  for (const auto& c : cases) {
    auto r = f->log->OffsetForTime(s, 0, c.t);
    assert_true(r.ok());
    if (*r != c.offset)
      fail_msg("t=%lld: offset %llu, expected %llu", (long long)c.t, (unsigned long long)*r,
               (unsigned long long)c.offset);
  }
  auto ts = f->log->Read(s, 0, 13, 1, 1 << 20);
  assert_int_equal(ts->records[0].timestamp_ms, 5000);
}

static void test_read_offset_for_time_over_many_batches(void** state) {
  Fixture* f = static_cast<Fixture*>(*state);
  assert_string_equal(OpenLog(f, {Spec("s")}).c_str(), "");
  StreamId s = f->streams[0];
  // 300 commits 100 ms apart: the sparse index has an entry per second.
  for (int i = 0; i < 300; i++) {
    *f->wall = 100000 + i * 100;
    assert_true(
        AppendWait(f->log.get(), s, 0, {Payload(2 * i), Payload(2 * i + 1)}, i + 1).status.ok());
  }
  for (int i = 0; i < 300; i += 7) {
    assert_int_equal(*f->log->OffsetForTime(s, 0, 100000 + i * 100), 2 * i);
    assert_int_equal(*f->log->OffsetForTime(s, 0, 100000 + i * 100 - 50), 2 * i);
  }
  assert_int_equal(*f->log->OffsetForTime(s, 0, 200000), 600);
}

static void FlipAll(std::string* data, const std::string& marker, size_t at) {
  for (size_t pos = data->find(marker); pos != std::string::npos;
       pos = data->find(marker, pos + 1)) {
    (*data)[pos + at] ^= 0x20;
  }
}

static void test_read_skips_corrupt_batch_in_copy(void** state) {
  Fixture* f = static_cast<Fixture*>(*state);
  assert_string_equal(OpenLog(f, {Spec("s")}).c_str(), "");
  StreamId s = f->streams[0];
  assert_true(AppendWait(f->log.get(), s, 0, {"first-1", "first-2"}, 1).status.ok());
  assert_true(
      AppendWait(f->log.get(), s, 0, {"CORRUPT-ME-one", "CORRUPT-ME-two", "x"}, 2).status.ok());
  std::string big(5000, 'B');  // an overflow-page batch after it
  assert_true(AppendWait(f->log.get(), s, 0, {"third", big}, 3).status.ok());
  f->log.reset();
  std::string copy = MakeTempDir();
  f->extra_dirs.push_back(copy);
  std::string data = ReadFile(f->dir + "/data.mdb");
  assert_true(data.find("CORRUPT-ME-two") != std::string::npos);
  FlipAll(&data, "CORRUPT-ME-two", 3);
  assert_true(WriteFile(copy + "/data.mdb", data));
  Options o = f->options;
  o.dir = copy;
  auto opened = Log::Open(o);
  assert_true(opened.ok());
  f->extra.push_back(std::move(opened.value()));
  Log* log = f->extra.back().get();
  auto r = log->Read(s, 0, 0, 100, 1 << 20);
  assert_true(r.ok());
  assert_int_equal(r->records.size(), 4);
  assert_true(r->records[1].payload == "first-2");
  assert_int_equal(r->records[2].offset, 5);
  assert_true(r->records[2].payload == "third");
  assert_true(r->records[3].payload == big);
  assert_int_equal(r->skipped, 3);
  assert_int_equal(r->next_offset, 7);
  assert_int_equal(log->GetStats().corrupt_batches, 1);
  // Starting inside the corrupt batch skips the rest of it.
  r = log->Read(s, 0, 3, 100, 1 << 20);
  assert_int_equal(r->skipped, 2);
  assert_int_equal(r->records[0].offset, 5);
  // Time lookups walk over it too; the copy still takes appends.
  assert_int_equal(*log->OffsetForTime(s, 0, 1001), 7);
  assert_true(AppendWait(log, s, 0, {"after"}, 4).status.ok());
  // The original is intact.
  assert_string_equal(OpenLog(f, {Spec("s")}).c_str(), "");
  r = f->log->Read(s, 0, 0, 100, 1 << 20);
  assert_int_equal(r->records.size(), 7);
  assert_int_equal(r->skipped, 0);
}

static void test_read_flipped_byte_in_big_batch_body(void** state) {
  Fixture* f = static_cast<Fixture*>(*state);
  assert_string_equal(OpenLog(f, {Spec("s")}).c_str(), "");
  StreamId s = f->streams[0];
  std::string big = "BIGMARK" + std::string(20000, 'q');
  assert_true(AppendWait(f->log.get(), s, 0, {big, "small"}, 1).status.ok());
  assert_true(AppendWait(f->log.get(), s, 0, {"next"}, 2).status.ok());
  f->log.reset();
  std::string data = ReadFile(f->dir + "/data.mdb");
  FlipAll(&data, "BIGMARK", 12000);
  assert_true(WriteFile(f->dir + "/data.mdb", data));
  assert_string_equal(OpenLog(f, {Spec("s")}).c_str(), "");
  auto r = f->log->Read(s, 0, 0, 100, 1 << 20);
  assert_int_equal(r->records.size(), 1);
  assert_true(r->records[0].payload == "next");
  assert_int_equal(r->skipped, 2);
}

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_read_starts_inside_a_batch_and_honours_limits, Setup,
                                      Teardown),
      cmocka_unit_test_setup_teardown(test_read_below_start_is_out_of_range, Setup, Teardown),
      cmocka_unit_test_setup_teardown(test_read_offset_for_time, Setup, Teardown),
      cmocka_unit_test_setup_teardown(test_read_offset_for_time_over_many_batches, Setup, Teardown),
      cmocka_unit_test_setup_teardown(test_read_skips_corrupt_batch_in_copy, Setup, Teardown),
      cmocka_unit_test_setup_teardown(test_read_flipped_byte_in_big_batch_body, Setup, Teardown),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
