// StreamRouter: decides which stream (and partition) stores a PUBLISH.
//
// A message goes to the first stream, in configuration order, one of whose
// subjects matches its topic; a message that matches none is delivered in
// memory only. The partition comes from the stream's key kind (client id,
// topic, one topic level, or a user property) through storage::PartitionFor.
//
// Owned by the Broker. Thread: loop only. Built from the configuration and the
// stream ids the Log assigned; cannot fail after construction.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "daemon/config.h"
#include "daemon/topic_tree.h"
#include "storage/log.h"

namespace trib {

class StreamRouter {
 public:
  struct Route {
    storage::StreamId stream = 0;
    uint32_t partition = 0;
    size_t index = 0;  // position in the configuration's stream list
    std::string_view key;  // the record's key (a view into the KeyInput's data)
  };
  // What the key kinds may read from a message.
  struct KeyInput {
    std::string_view client_id;
    std::string_view topic;
    // Looks up a user property by name; returns false when absent.
    bool (*user_property)(const void* ctx, std::string_view name, std::string_view* value) = nullptr;
    const void* ctx = nullptr;
  };

  StreamRouter() = default;
  // REQUIRES: ids[i] is the StreamId of cfg[i].
  void Reset(const std::vector<config::StreamConfig>& cfg, const std::vector<storage::StreamId>& ids);

  // Returns false when no stream captures `topic`.
  bool Match(std::string_view topic, size_t* index) const;
  // Picks the partition for a message already matched to stream `index`.
  Route Place(size_t index, const KeyInput& in) const;
  bool empty() const { return streams_.empty(); }
  const config::StreamConfig& stream(size_t index) const { return streams_[index]; }
  storage::StreamId id(size_t index) const { return ids_[index]; }
  size_t size() const { return streams_.size(); }

 private:
  std::vector<config::StreamConfig> streams_;
  std::vector<storage::StreamId> ids_;
  TopicTree subjects_;  // subscriber id = stream index
  mutable std::vector<SubMatch> scratch_;
  mutable std::vector<SharedMatch> scratch_shared_;
};

}  // namespace trib
