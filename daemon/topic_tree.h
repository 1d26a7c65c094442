// TopicTree: the broker's subscription index, a trie over topic levels.
//
// Each node is one filter level; literal levels are kept in a hash map, while
// `+` and `#` have their own child pointers so a publish walks at most three
// branches per level. Plain subscriptions and shared subscriptions
// ($share/<group>/<filter>) live in the same nodes, so one walk finds both.
//
// Owned by the Broker. Thread: loop only; not even two concurrent Match()
// calls are allowed, because Match() reuses scratch space held by the tree.
// Nothing here fails: filters are validated by the caller, and running out of
// memory aborts like everywhere else in the daemon.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

namespace trib {

using SubscriberId = uint64_t;  // the same alias as in daemon/message.h

// What a SUBSCRIBE asked for, per filter.
struct SubOptions {
  uint8_t qos = 0;
  bool no_local = false;
  bool retain_as_published = false;
  uint8_t retain_handling = 0;
  uint32_t subscription_id = 0;  // 0 = none
  bool check_read = false;       // the ACL must approve each delivered message
  bool stream_meta = false;      // 5.0: add stream/partition/offset/timestamp user properties
};

struct SubMatch {
  SubscriberId subscriber;
  SubOptions options;
};

// One shared subscription (group, filter) that matched; the broker picks one member.
// The views and the pointer stay valid until the next change to the tree.
struct SharedMatch {
  std::string_view group;
  std::string_view filter;
  const std::vector<SubMatch>* members;  // never empty
};

class TopicTree {
 public:
  TopicTree();
  ~TopicTree();
  TopicTree(const TopicTree&) = delete;
  TopicTree& operator=(const TopicTree&) = delete;

  // Adds a subscription, or replaces the options of the same subscriber on the
  // same filter. Returns true if it was added, false if it replaced one.
  // REQUIRES: `filter` is a valid MQTT topic filter (not a $share/ one).
  bool Subscribe(std::string_view filter, SubscriberId s, const SubOptions& o);
  // Returns false if `s` was not subscribed to exactly `filter`.
  bool Unsubscribe(std::string_view filter, SubscriberId s);

  // The same for a shared subscription "$share/<group>/<filter>".
  // REQUIRES: `group` is non-empty and holds no '/', '+' or '#'.
  bool SubscribeShared(std::string_view group, std::string_view filter, SubscriberId s,
                       const SubOptions& o);
  bool UnsubscribeShared(std::string_view group, std::string_view filter, SubscriberId s);

  // Appends one SubMatch per (subscriber, filter) whose filter matches `topic`
  // (a subscriber with overlapping filters appears once per filter; the broker
  // merges), and one SharedMatch per (group, filter) that matches. Allocates
  // nothing beyond growing the output vectors, so callers should reuse them.
  // REQUIRES: `topic` is a valid topic name (no wildcards).
  void Match(std::string_view topic, std::vector<SubMatch>* subs,
             std::vector<SharedMatch>* shared) const;

  // Plain subscriptions plus shared-group memberships.
  size_t subscription_count() const { return subscription_count_; }
  // Trie nodes below the root; returns to 0 once every subscription is gone.
  size_t node_count() const { return node_count_; }

 private:
  struct Node;
  // One pending branch of a Match() walk: a node, and where the next topic
  // level starts (npos once every level is consumed).
  struct Frame {
    const Node* node;
    size_t pos;
  };

  Node* FindOrAddChild(Node* n, std::string_view level);
  // Removes the now-empty nodes at the end of `path` (parent, level) pairs.
  void Prune(std::vector<std::pair<Node*, std::string_view>>* path, Node* last);
  // Walks `filter` without creating nodes; fills `path` for Prune().
  Node* FindNode(std::string_view filter, std::vector<std::pair<Node*, std::string_view>>* path);

  std::unique_ptr<Node> root_;
  size_t subscription_count_ = 0;
  size_t node_count_ = 0;
  mutable std::vector<Frame> stack_;  // Match() scratch; keeps its capacity
};

}  // namespace trib
