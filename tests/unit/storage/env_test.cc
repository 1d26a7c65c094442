// Opening an environment: a newer format version is refused and the file is
// left byte for byte as it was; files that are not ours are refused.

#include <sys/stat.h>

#include <string>

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

// Rewrites meta/format (a u32 after the key in its LMDB leaf node) in every
// copy of the page. Returns how many it changed.
static int SetFormatVersion(const std::string& path, char version) {
  std::string data = ReadFile(path);
  const std::string needle("format\x01\x00\x00\x00", 10);
  int n = 0;
  for (size_t pos = data.find(needle); pos != std::string::npos; pos = data.find(needle, pos + 1)) {
    data[pos + 6] = version;
    n++;
  }
  return WriteFile(path, data) ? n : -1;
}

static void test_env_newer_format_refused_and_untouched(void** state) {
  Fixture* f = static_cast<Fixture*>(*state);
  assert_string_equal(OpenLog(f, {Spec("s")}).c_str(), "");
  assert_true(AppendWait(f->log.get(), f->streams[0], 0, {"a"}).status.ok());
  f->log.reset();
  const std::string path = f->dir + "/data.mdb";
  assert_true(SetFormatVersion(path, 2) >= 1);
  const std::string before = ReadFile(path);
  struct stat st_before, st_after;
  assert_int_equal(stat(path.c_str(), &st_before), 0);
  auto r = Log::Open(f->options);
  assert_false(r.ok());
  assert_int_equal(r.status().code(), Error::kFormat);
  assert_non_null(strstr(r.status().message().c_str(), "version 2 is newer"));
  assert_int_equal(stat(path.c_str(), &st_after), 0);
  assert_true(ReadFile(path) == before);
  assert_int_equal(st_after.st_mtim.tv_sec, st_before.st_mtim.tv_sec);
  assert_int_equal(st_after.st_mtim.tv_nsec, st_before.st_mtim.tv_nsec);
  // Back to version 1: opens, the record is there.
  assert_true(SetFormatVersion(path, 1) == 0);  // needle no longer matches version 2
  std::string data = ReadFile(path);
  const std::string needle2("format\x02\x00\x00\x00", 10);
  for (size_t pos = data.find(needle2); pos != std::string::npos; pos = data.find(needle2, pos + 1))
    data[pos + 6] = 1;
  assert_true(WriteFile(path, data));
  assert_string_equal(OpenLog(f, {Spec("s")}).c_str(), "");
  assert_int_equal(f->log->Info(f->streams[0], 0)->end_offset, 1);
}

static void test_env_foreign_files_refused(void** state) {
  Fixture* f = static_cast<Fixture*>(*state);
  assert_true(WriteFile(f->dir + "/data.mdb", std::string(65536, 'Z')));
  auto r = Log::Open(f->options);
  assert_false(r.ok());
  assert_int_equal(r.status().code(), Error::kFormat);
}

static void test_env_missing_dir_is_an_error(void** state) {
  Fixture* f = static_cast<Fixture*>(*state);
  f->options.dir = f->dir + "/does/not/exist";
  auto r = Log::Open(f->options);
  assert_false(r.ok());
  assert_int_equal(r.status().code(), Error::kIo);
  assert_non_null(strstr(r.status().message().c_str(), "does/not/exist"));
  f->options.dir = "";
  assert_int_equal(Log::Open(f->options).status().code(), Error::kInvalid);
}

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_env_newer_format_refused_and_untouched, Setup, Teardown),
      cmocka_unit_test_setup_teardown(test_env_foreign_files_refused, Setup, Teardown),
      cmocka_unit_test_setup_teardown(test_env_missing_dir_is_an_error, Setup, Teardown),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
