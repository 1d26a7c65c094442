// Streams: definitions persisted in meta, a changed partition count refused
// without changing anything, EnsureStream at run time, retention updates.

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

static void test_streams_changed_partition_count_refused_and_nothing_changed(void** state) {
  Fixture* f = static_cast<Fixture*>(*state);
  StreamSpec a = Spec("alpha", 4);
  a.max_age_ms = 1000;
  assert_string_equal(OpenLog(f, {a}).c_str(), "");
  assert_true(AppendWait(f->log.get(), f->streams[0], 3, {"x"}).status.ok());
  StreamSpec a8 = Spec("alpha", 8);
  StreamSpec b = Spec("beta", 2);
  Status s = f->log->OpenStreams({b, a8});
  assert_int_equal(s.code(), Error::kConfigChanged);
  for (const char* part : {"alpha", "4", "8"}) {
    if (s.message().find(part) == std::string::npos)
      fail_msg("message \"%s\" lacks \"%s\"", s.message().c_str(), part);
  }
  assert_false(f->log->FindStream("beta").has_value());  // refused list changed nothing
  // Reopen and ask again: still refused, data intact.
  f->log.reset();
  auto r = Log::Open(f->options);
  assert_true(r.ok());
  f->log = std::move(r.value());
  assert_int_equal(f->log->OpenStreams({a8}).code(), Error::kConfigChanged);
  auto streams = f->log->ListStreams();
  assert_int_equal(streams.size(), 1);
  assert_int_equal(streams[0].second.partitions, 4);
  assert_int_equal(streams[0].second.max_age_ms, 1000);
  assert_int_equal(f->log->Info(streams[0].first, 3)->end_offset, 1);
}

static void test_streams_definitions_persist_and_unlisted_stay_readable(void** state) {
  Fixture* f = static_cast<Fixture*>(*state);
  StreamSpec z = Spec("zipped", 2);
  z.compression = Compression::kZstd;
  z.on_full = OnFull::kReject;
  z.max_bytes = 1 << 20;
  assert_string_equal(OpenLog(f, {Spec("one"), z}).c_str(), "");
  StreamId zid = f->streams[1];
  assert_true(AppendWait(f->log.get(), zid, 1, {"kept"}).status.ok());
  assert_string_equal(OpenLog(f, {Spec("one")}).c_str(), "");  // "zipped" not configured
  auto found = f->log->FindStream("zipped");
  assert_true(found.has_value());
  assert_int_equal(*found, zid);
  auto streams = f->log->ListStreams();
  assert_int_equal(streams.size(), 2);
  const StreamSpec& got = streams[1].second;
  assert_true(got.name == "zipped" && got.partitions == 2 && got.max_bytes == (1u << 20));
  assert_true(got.on_full == OnFull::kReject && got.compression == Compression::kZstd);
  auto r = f->log->Read(zid, 1, 0, 10, 1 << 20);
  assert_true(r->records[0].payload == "kept");
}

static void test_streams_ensure_stream_creates_once(void** state) {
  Fixture* f = static_cast<Fixture*>(*state);
  assert_string_equal(OpenLog(f, {Spec("local")}).c_str(), "");
  auto id = f->log->EnsureStream(Spec("gw-7.telemetry", 3));
  assert_true(id.ok());
  assert_int_equal(*id, 1);
  auto again = f->log->EnsureStream(Spec("gw-7.telemetry", 3));
  assert_int_equal(*again, *id);
  assert_int_equal(f->log->EnsureStream(Spec("gw-7.telemetry", 2)).status().code(),
                   Error::kConfigChanged);
  assert_true(AppendWait(f->log.get(), *id, 2, {"replicated"}).status.ok());
  assert_string_equal(OpenLog(f, {Spec("local")}).c_str(), "");
  assert_int_equal(*f->log->FindStream("gw-7.telemetry"), *id);
  assert_int_equal(f->log->Info(*id, 2)->end_offset, 1);
}

static void test_streams_invalid_specs_refused(void** state) {
  Fixture* f = static_cast<Fixture*>(*state);
  assert_string_equal(OpenLog(f, {}).c_str(), "");
  assert_int_equal(f->log->OpenStreams({Spec("", 1)}).code(), Error::kInvalid);
  assert_int_equal(f->log->OpenStreams({Spec("a", 0)}).code(), Error::kInvalid);
  assert_int_equal(f->log->OpenStreams({Spec("a"), Spec("a")}).code(), Error::kInvalid);
  std::vector<StreamSpec> many;
  for (int i = 0; i < 3; i++) many.push_back(Spec("big" + std::to_string(i), 200));
  assert_int_equal(f->log->OpenStreams(many).code(), Error::kInvalid);
  assert_int_equal(f->log->ListStreams().size(), 0);
}

static void test_streams_update_retention_persists(void** state) {
  Fixture* f = static_cast<Fixture*>(*state);
  assert_string_equal(OpenLog(f, {Spec("s")}).c_str(), "");
  assert_true(f->log->UpdateRetention(f->streams[0], 5000, 1 << 16, OnFull::kReject).ok());
  assert_int_equal(f->log->UpdateRetention(42, 1, 1, OnFull::kReject).code(), Error::kInvalid);
  f->log.reset();
  auto r = Log::Open(f->options);
  assert_true(r.ok());
  f->log = std::move(r.value());
  auto streams = f->log->ListStreams();
  assert_int_equal(streams[0].second.max_age_ms, 5000);
  assert_int_equal(streams[0].second.max_bytes, 1 << 16);
  assert_true(streams[0].second.on_full == OnFull::kReject);
}

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(
          test_streams_changed_partition_count_refused_and_nothing_changed, Setup, Teardown),
      cmocka_unit_test_setup_teardown(test_streams_definitions_persist_and_unlisted_stay_readable,
                                      Setup, Teardown),
      cmocka_unit_test_setup_teardown(test_streams_ensure_stream_creates_once, Setup, Teardown),
      cmocka_unit_test_setup_teardown(test_streams_invalid_specs_refused, Setup, Teardown),
      cmocka_unit_test_setup_teardown(test_streams_update_retention_persists, Setup, Teardown),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
