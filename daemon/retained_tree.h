// RetainedTree<V>: the retained messages, one value per exact topic name, in a
// trie over topic levels so a SUBSCRIBE can find every topic its filter matches
// without scanning them all.
//
// Owned by the Broker (V is typically MessagePtr). Thread: loop only; not even
// two concurrent Match() calls are allowed, because Match() reuses scratch
// space held by the tree. Nothing here fails: topics and filters are validated
// by the caller, and running out of memory aborts.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace trib {

template <class V>
class RetainedTree {
 public:
  RetainedTree() : root_(std::make_unique<Node>()) {}
  ~RetainedTree();
  RetainedTree(const RetainedTree&) = delete;
  RetainedTree& operator=(const RetainedTree&) = delete;

  // Stores `value` for `topic`, replacing any value it had.
  // REQUIRES: `topic` is a valid topic name (no wildcards).
  void Set(std::string_view topic, V value);
  // Returns false if `topic` had no value. Frees the nodes that become empty.
  bool Erase(std::string_view topic);
  // The value stored for exactly `topic`, or nullptr. Valid until the next change.
  const V* Find(std::string_view topic) const;
  // Appends (topic, value) for every stored topic that `filter` matches, with
  // the MQTT rules: `+` is one level, `#` is the parent level and everything
  // below it, and a filter starting with a wildcard skips topics starting with
  // '$' [MQTT-4.7.2-1]. The views and pointers are valid until the next change.
  // REQUIRES: `filter` is a valid topic filter.
  void Match(std::string_view filter,
             std::vector<std::pair<std::string_view, const V*>>* out) const;

  size_t size() const { return size_; }
  // Trie nodes below the root; returns to 0 once every topic is erased.
  size_t node_count() const { return node_count_; }

 private:
  static constexpr size_t kEnd = std::string_view::npos;

  struct LevelHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct Entry {
    std::string topic;  // so Match() can return it without rebuilding it
    V value;
  };
  struct Node {
    std::unordered_map<std::string, std::unique_ptr<Node>, LevelHash, std::equal_to<>> children;
    std::optional<Entry> entry;

    const Node* Child(std::string_view level) const {
      auto it = children.find(level);
      return it == children.end() ? nullptr : it->second.get();
    }
  };
  // One pending branch of a Match() walk: a node, and where the next filter
  // level starts; kEnd once the filter is consumed, kSubtree under a `#`.
  struct Frame {
    const Node* node;
    size_t pos;
  };
  static constexpr size_t kSubtree = kEnd - 1;

  // Returns the level of `s` that starts at `*pos` and moves `*pos` past it and
  // its '/', or to kEnd after the last level. "a//b" has three levels.
  static std::string_view NextLevel(std::string_view s, size_t* pos) {
    const size_t start = *pos;
    const size_t slash = s.find('/', start);
    if (slash == std::string_view::npos) {
      *pos = kEnd;
      return s.substr(start);
    }
    *pos = slash + 1;
    return s.substr(start, slash - start);
  }

  void MatchFrame(const Frame& f, std::string_view filter,
                  std::vector<std::pair<std::string_view, const V*>>* out) const;
  static void Emit(const Node& n, std::vector<std::pair<std::string_view, const V*>>* out) {
    if (n.entry) out->emplace_back(n.entry->topic, &n.entry->value);
  }

  std::unique_ptr<Node> root_;
  size_t size_ = 0;
  size_t node_count_ = 0;
  mutable std::vector<Frame> stack_;  // Match() scratch; keeps its capacity
};

// Tears the trie down without recursion: a topic may have tens of thousands of
// levels, and recursive destructors would use that much stack.
template <class V>
RetainedTree<V>::~RetainedTree() {
  std::vector<std::unique_ptr<Node>> work;
  work.push_back(std::move(root_));
  while (!work.empty()) {
    std::unique_ptr<Node> n = std::move(work.back());
    work.pop_back();
    for (auto& kv : n->children) work.push_back(std::move(kv.second));
  }
}

template <class V>
void RetainedTree<V>::Set(std::string_view topic, V value) {
  Node* n = root_.get();
  size_t pos = 0;
  while (pos != kEnd) {
    const std::string_view level = NextLevel(topic, &pos);
    auto it = n->children.find(level);
    if (it == n->children.end()) {
      it = n->children.emplace(std::string(level), std::make_unique<Node>()).first;
      ++node_count_;
    }
    n = it->second.get();
  }
  if (n->entry) {
    n->entry->value = std::move(value);
  } else {
    n->entry.emplace(Entry{std::string(topic), std::move(value)});
    ++size_;
  }
}

template <class V>
bool RetainedTree<V>::Erase(std::string_view topic) {
  std::vector<std::pair<Node*, std::string_view>> path;  // (parent, level of child)
  Node* n = root_.get();
  size_t pos = 0;
  while (pos != kEnd) {
    const std::string_view level = NextLevel(topic, &pos);
    auto it = n->children.find(level);
    if (it == n->children.end()) return false;
    path.emplace_back(n, level);
    n = it->second.get();
  }
  if (!n->entry) return false;
  n->entry.reset();
  --size_;
  // Free the chain of nodes left with neither a value nor children, bottom-up.
  while (!path.empty() && !n->entry && n->children.empty()) {
    auto [parent, level] = path.back();
    path.pop_back();
    parent->children.erase(parent->children.find(level));  // destroys `n`
    --node_count_;
    n = parent;
  }
  return true;
}

template <class V>
const V* RetainedTree<V>::Find(std::string_view topic) const {
  const Node* n = root_.get();
  size_t pos = 0;
  while (pos != kEnd && n != nullptr) n = n->Child(NextLevel(topic, &pos));
  return n != nullptr && n->entry ? &n->entry->value : nullptr;
}

template <class V>
void RetainedTree<V>::Match(std::string_view filter,
                            std::vector<std::pair<std::string_view, const V*>>* out) const {
  stack_.clear();
  stack_.push_back(Frame{root_.get(), 0});
  while (!stack_.empty()) {
    const Frame f = stack_.back();
    stack_.pop_back();
    MatchFrame(f, filter, out);
  }
}

template <class V>
void RetainedTree<V>::MatchFrame(const Frame& f, std::string_view filter,
                                 std::vector<std::pair<std::string_view, const V*>>* out) const {
  const Node& n = *f.node;
  if (f.pos == kSubtree) {  // below a `#`: everything
    Emit(n, out);
    for (const auto& kv : n.children) stack_.push_back(Frame{kv.second.get(), kSubtree});
    return;
  }
  if (f.pos == kEnd) {
    Emit(n, out);
    return;
  }
  size_t next = f.pos;
  const std::string_view level = NextLevel(filter, &next);
  // [MQTT-4.7.2-1] Wildcards in the first filter level do not match '$' topics.
  const bool at_root = &n == root_.get();
  if (level == "#") {
    if (!at_root) Emit(n, out);  // "sport/#" matches "sport"
    for (const auto& kv : n.children) {
      if (at_root && !kv.first.empty() && kv.first.front() == '$') continue;
      stack_.push_back(Frame{kv.second.get(), kSubtree});
    }
  } else if (level == "+") {
    for (const auto& kv : n.children) {
      if (at_root && !kv.first.empty() && kv.first.front() == '$') continue;
      stack_.push_back(Frame{kv.second.get(), next});
    }
  } else if (const Node* c = n.Child(level)) {
    stack_.push_back(Frame{c, next});
  }
}

}  // namespace trib
