#include "daemon/stream_router.h"

#include <limits>

namespace trib {

void StreamRouter::Reset(const std::vector<config::StreamConfig>& cfg,
                         const std::vector<storage::StreamId>& ids) {
  for (size_t i = 0; i < streams_.size(); ++i) {
    for (const std::string& f : streams_[i].subjects) subjects_.Unsubscribe(f, i);
  }
  streams_ = cfg;
  ids_ = ids;
  for (size_t i = 0; i < streams_.size(); ++i) {
    for (const std::string& f : streams_[i].subjects) subjects_.Subscribe(f, i, SubOptions{});
  }
}

bool StreamRouter::Match(std::string_view topic, size_t* index) const {
  if (streams_.empty()) return false;
  scratch_.clear();
  scratch_shared_.clear();
  subjects_.Match(topic, &scratch_, &scratch_shared_);
  if (scratch_.empty()) return false;
  size_t best = std::numeric_limits<size_t>::max();
  for (const SubMatch& m : scratch_) best = std::min<size_t>(best, m.subscriber);
  *index = best;
  return true;
}

namespace {

// The n-th level (0-based) of a topic, or the whole topic when it has fewer.
std::string_view TopicLevel(std::string_view topic, uint32_t n) {
  size_t start = 0;
  for (uint32_t i = 0; i < n; ++i) {
    size_t slash = topic.find('/', start);
    if (slash == std::string_view::npos) return topic;
    start = slash + 1;
  }
  size_t end = topic.find('/', start);
  return topic.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
}

}  // namespace

StreamRouter::Route StreamRouter::Place(size_t index, const KeyInput& in) const {
  const config::StreamConfig& s = streams_[index];
  Route r;
  r.index = index;
  r.stream = ids_[index];
  std::string_view key = in.client_id;
  switch (s.key_kind) {
    case config::KeyKind::kClientId:
      break;
    case config::KeyKind::kTopic:
      key = in.topic;
      break;
    case config::KeyKind::kTopicLevel:
      key = TopicLevel(in.topic, s.key_level);
      break;
    case config::KeyKind::kUserProperty: {
      std::string_view v;
      if (in.user_property && in.user_property(in.ctx, s.key_property, &v)) key = v;
      break;
    }
  }
  r.key = key;
  r.partition = s.partitions <= 1 ? 0 : storage::PartitionFor(key, s.partitions);
  return r;
}

}  // namespace trib
