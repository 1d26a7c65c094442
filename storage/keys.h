// Key and small-value encodings of the environment (storage/FORMAT.md):
// big-endian offsets, database names, name keys for long MQTT names, cursor
// keys and stream definitions in `meta`.
//
// Thread: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "storage/log.h"

namespace trib::storage {

constexpr uint32_t kFormatVersion = 1;
constexpr unsigned kMaxDbs = 1024;
constexpr unsigned kFixedDbs = 5;  // meta, cursors, retained, sessions, idle_groups
constexpr size_t kMaxShortName = 480;
constexpr size_t kLongNamePrefix = 464;
constexpr size_t kLongNameKey = kLongNamePrefix + 1 + 16;  // 481
constexpr size_t kMaxStreamName = 200;

inline constexpr char kMetaFormatKey[] = "format";
inline constexpr char kMetaNudgeKey[] = "nudge";
inline constexpr char kMetaStreamPrefix[] = "s/";

void PutBE64(char* p, uint64_t v);
uint64_t GetBE64(const void* p);
void PutBE32(char* p, uint32_t v);
uint32_t GetBE32(const void* p);
// Timestamps as time-index keys: ts + 2^63, big-endian, so that order is kept.
uint64_t TimeKey(int64_t ts);
int64_t TimeFromKey(uint64_t key);

std::string DataDbName(StreamId id, uint32_t partition);    // "p/<id>/<n>"
std::string TimeDbName(StreamId id, uint32_t partition);    // "t/<id>/<n>"
std::string EndMarkerKey(StreamId id, uint32_t partition);  // "e/<id>/<n>"

// Name keys for retained topics, session client ids and consumer names.
std::string NameKey(std::string_view name);
bool IsLongNameKey(std::string_view key);
// The value stored under a name key: as is for short names, else prefixed by
// the whole name.
std::string NameValue(std::string_view name, std::string_view value);
// Splits a stored (key, value) back into (name, value). False when malformed.
bool SplitNameValue(std::string_view key, std::string_view stored, std::string_view* name,
                    std::string_view* value);

std::string CursorPrefix(std::string_view consumer);
std::string CursorKey(std::string_view consumer, StreamId stream, uint32_t partition);
// Reads (stream, partition) from a cursor key that starts with `prefix`.
bool ParseCursorKey(std::string_view key, size_t prefix_len, StreamId* stream, uint32_t* partition);

std::string EncodeStreamDef(StreamId id, const StreamSpec& spec);
// False when the value is malformed; spec->name is left untouched.
bool DecodeStreamDef(std::string_view value, StreamId* id, StreamSpec* spec);

}  // namespace trib::storage
