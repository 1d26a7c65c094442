#include <dlfcn.h>
#include <unistd.h>

#include <climits>
#include <cstring>
#include <map>
#include <mutex>

#include "bridge/sink_module.h"

namespace trib::bridge {

namespace {

// ../lib/tributary next to the running executable.
std::string ModuleDir() {
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) return "/usr/lib/tributary";
  std::string path(exe, static_cast<size_t>(n));
  std::string bin = path.substr(0, path.rfind('/'));
  return bin.substr(0, bin.rfind('/')) + "/lib/tributary";
}

Result<const SinkModule*> Load(const std::string& file) {
  // RTLD_NOW: a missing symbol is an error now, not a crash later.
  void* handle = dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = dlerror();
    return Result<const SinkModule*>(Error::kInvalid,
                                     "cannot load " + file + ": " + (why ? why : "unknown error"));
  }
  using EntryFn = const SinkModule* (*)();
  auto entry = reinterpret_cast<EntryFn>(dlsym(handle, "tributary_sink_module"));
  const SinkModule* m = entry ? entry() : nullptr;
  if (m == nullptr || m->new_sink == nullptr) {
    dlclose(handle);
    return Result<const SinkModule*>(Error::kInvalid, file + " is not a tributary exporter module");
  }
  if (std::strcmp(m->version, TRIB_VERSION) != 0) {
    std::string v = m->version;
    dlclose(handle);
    return Result<const SinkModule*>(Error::kInvalid, file + " is from tributary " + v +
                                                          ", this daemon is " TRIB_VERSION);
  }
  return m;  // never unloaded: its code runs on exporter threads until exit
}

}  // namespace

Result<const SinkModule*> LoadSinkModule(const std::string& kind) {
  static std::mutex mu;
  static std::map<std::string, const SinkModule*> loaded;  // by file
  const std::string file =
      ModuleDir() + (kind == "kafka" ? "/tributary-kafka.so" : "/tributary-mqtt.so");
  std::lock_guard<std::mutex> lock(mu);
  auto it = loaded.find(file);
  if (it != loaded.end()) return it->second;
  Result<const SinkModule*> m = Load(file);
  if (m.ok()) loaded.emplace(file, m.value());
  return m;
}

}  // namespace trib::bridge
