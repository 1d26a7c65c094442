// TopicTree: see topic_tree.h. Matching follows MQTT 3.1.1 section 4.7 and
// MQTT 5.0 section 4.7; both versions share the rules.

#include "daemon/topic_tree.h"

#include <cassert>
#include <functional>
#include <string>
#include <unordered_map>

namespace trib {
namespace {

constexpr size_t kEnd = std::string_view::npos;

// Returns the level of `s` that starts at `*pos` and moves `*pos` past it and
// its '/', or to kEnd after the last level. Empty levels are real levels:
// "a//b" has three and "/" has two.
std::string_view NextLevel(std::string_view s, size_t* pos) {
  const size_t start = *pos;
  const size_t slash = s.find('/', start);
  if (slash == std::string_view::npos) {
    *pos = kEnd;
    return s.substr(start);
  }
  *pos = slash + 1;
  return s.substr(start, slash - start);
}

struct LevelHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// The subscribers of one filter (or of one shared group on it). Kept in a
// vector so Match() copies a contiguous run; past kIndexFrom entries an index
// keeps Subscribe/Unsubscribe O(1) for filters with many subscribers.
class SubList {
 public:
  bool empty() const { return items_.empty(); }
  const std::vector<SubMatch>& items() const { return items_; }

  // Returns true if `s` was added, false if its options were replaced.
  bool Upsert(SubscriberId s, const SubOptions& o) {
    const size_t i = IndexOf(s);
    if (i != kEnd) {
      items_[i].options = o;
      return false;
    }
    items_.push_back(SubMatch{s, o});
    if (index_) {
      index_->emplace(s, items_.size() - 1);
    } else if (items_.size() > kIndexFrom) {
      index_ = std::make_unique<std::unordered_map<SubscriberId, size_t>>();
      for (size_t j = 0; j < items_.size(); ++j) index_->emplace(items_[j].subscriber, j);
    }
    return true;
  }

  // Returns false if `s` was not in the list. Order is not kept.
  bool Remove(SubscriberId s) {
    const size_t i = IndexOf(s);
    if (i == kEnd) return false;
    if (index_) index_->erase(s);
    if (i + 1 != items_.size()) {
      items_[i] = items_.back();
      if (index_) (*index_)[items_[i].subscriber] = i;
    }
    items_.pop_back();
    if (index_ && items_.size() < kIndexFrom / 2) index_.reset();
    // A filter that once had many subscribers should not keep their memory.
    if (items_.capacity() > 64 && items_.size() < items_.capacity() / 4) items_.shrink_to_fit();
    return true;
  }

 private:
  static constexpr size_t kIndexFrom = 16;

  size_t IndexOf(SubscriberId s) const {
    if (index_) {
      auto it = index_->find(s);
      return it == index_->end() ? kEnd : it->second;
    }
    for (size_t i = 0; i < items_.size(); ++i) {
      if (items_[i].subscriber == s) return i;
    }
    return kEnd;
  }

  std::vector<SubMatch> items_;
  std::unique_ptr<std::unordered_map<SubscriberId, size_t>> index_;
};

struct SharedGroup {
  std::string name;
  SubList members;
};

// Shared subscriptions on one node; allocated only when the node has some.
struct SharedSubs {
  std::string filter;  // so SharedMatch can name it without rebuilding it
  std::vector<SharedGroup> groups;

  SharedGroup* Find(std::string_view name) {
    for (SharedGroup& g : groups) {
      if (g.name == name) return &g;
    }
    return nullptr;
  }
};

}  // namespace

struct TopicTree::Node {
  std::unordered_map<std::string, std::unique_ptr<Node>, LevelHash, std::equal_to<>> children;
  std::unique_ptr<Node> plus;  // the `+` child
  std::unique_ptr<Node> hash;  // the `#` child
  SubList subs;
  std::unique_ptr<SharedSubs> shared;

  bool Empty() const { return subs.empty() && !shared && children.empty() && !plus && !hash; }

  Node* Child(std::string_view level) const {
    if (level == "+") return plus.get();
    if (level == "#") return hash.get();
    auto it = children.find(level);
    return it == children.end() ? nullptr : it->second.get();
  }

  void RemoveChild(std::string_view level) {
    if (level == "+") {
      plus.reset();
    } else if (level == "#") {
      hash.reset();
    } else {
      auto it = children.find(level);
      assert(it != children.end());
      children.erase(it);
    }
  }

  void AppendTo(std::vector<SubMatch>* subs_out, std::vector<SharedMatch>* shared_out) const {
    const std::vector<SubMatch>& items = subs.items();
    subs_out->insert(subs_out->end(), items.begin(), items.end());
    if (!shared) return;
    for (const SharedGroup& g : shared->groups) {
      shared_out->push_back(SharedMatch{g.name, shared->filter, &g.members.items()});
    }
  }
};

TopicTree::TopicTree() : root_(std::make_unique<Node>()) {}

// Tears the trie down without recursion: a filter may have tens of thousands
// of levels, and recursive destructors would use that much stack.
TopicTree::~TopicTree() {
  std::vector<std::unique_ptr<Node>> work;
  work.push_back(std::move(root_));
  while (!work.empty()) {
    std::unique_ptr<Node> n = std::move(work.back());
    work.pop_back();
    for (auto& [level, child] : n->children) work.push_back(std::move(child));
    if (n->plus) work.push_back(std::move(n->plus));
    if (n->hash) work.push_back(std::move(n->hash));
  }
}

TopicTree::Node* TopicTree::FindOrAddChild(Node* n, std::string_view level) {
  std::unique_ptr<Node>* slot;
  if (level == "+") {
    slot = &n->plus;
  } else if (level == "#") {
    slot = &n->hash;
  } else {
    auto it = n->children.find(level);
    if (it != n->children.end()) return it->second.get();
    slot = &n->children.emplace(std::string(level), nullptr).first->second;
  }
  if (!*slot) {
    *slot = std::make_unique<Node>();
    ++node_count_;
  }
  return slot->get();
}

TopicTree::Node* TopicTree::FindNode(std::string_view filter,
                                     std::vector<std::pair<Node*, std::string_view>>* path) {
  Node* n = root_.get();
  size_t pos = 0;
  while (pos != kEnd && n != nullptr) {
    std::string_view level = NextLevel(filter, &pos);
    path->emplace_back(n, level);
    n = n->Child(level);
  }
  return n;
}

void TopicTree::Prune(std::vector<std::pair<Node*, std::string_view>>* path, Node* last) {
  Node* child = last;
  while (!path->empty() && child->Empty()) {
    auto [parent, level] = path->back();
    path->pop_back();
    parent->RemoveChild(level);  // destroys `child`
    --node_count_;
    child = parent;
  }
}

bool TopicTree::Subscribe(std::string_view filter, SubscriberId s, const SubOptions& o) {
  Node* n = root_.get();
  size_t pos = 0;
  while (pos != kEnd) n = FindOrAddChild(n, NextLevel(filter, &pos));
  const bool added = n->subs.Upsert(s, o);
  if (added) ++subscription_count_;
  return added;
}

bool TopicTree::Unsubscribe(std::string_view filter, SubscriberId s) {
  std::vector<std::pair<Node*, std::string_view>> path;
  Node* n = FindNode(filter, &path);
  if (n == nullptr || !n->subs.Remove(s)) return false;
  --subscription_count_;
  Prune(&path, n);
  return true;
}

bool TopicTree::SubscribeShared(std::string_view group, std::string_view filter, SubscriberId s,
                                const SubOptions& o) {
  assert(!group.empty());
  Node* n = root_.get();
  size_t pos = 0;
  while (pos != kEnd) n = FindOrAddChild(n, NextLevel(filter, &pos));
  if (!n->shared) {
    n->shared = std::make_unique<SharedSubs>();
    n->shared->filter = std::string(filter);
  }
  SharedGroup* g = n->shared->Find(group);
  if (g == nullptr) g = &n->shared->groups.emplace_back(SharedGroup{std::string(group), {}});
  const bool added = g->members.Upsert(s, o);
  if (added) ++subscription_count_;
  return added;
}

bool TopicTree::UnsubscribeShared(std::string_view group, std::string_view filter, SubscriberId s) {
  std::vector<std::pair<Node*, std::string_view>> path;
  Node* n = FindNode(filter, &path);
  if (n == nullptr || !n->shared) return false;
  SharedGroup* g = n->shared->Find(group);
  if (g == nullptr || !g->members.Remove(s)) return false;
  --subscription_count_;
  if (g->members.empty()) {
    std::vector<SharedGroup>& groups = n->shared->groups;
    groups.erase(groups.begin() + (g - groups.data()));
    if (groups.empty()) n->shared.reset();
  }
  Prune(&path, n);
  return true;
}

void TopicTree::Match(std::string_view topic, std::vector<SubMatch>* subs,
                      std::vector<SharedMatch>* shared) const {
  // [MQTT-4.7.2-1] A filter starting with a wildcard does not match a topic
  // starting with '$', so at the root such topics skip the `+` and `#` children.
  const bool dollar = !topic.empty() && topic.front() == '$';
  stack_.clear();
  stack_.push_back(Frame{root_.get(), 0});
  while (!stack_.empty()) {
    const Frame f = stack_.back();
    stack_.pop_back();
    const Node& n = *f.node;
    const bool wildcards = !(dollar && f.node == root_.get());
    // `#` matches the remaining levels, including none: "sport/#" matches "sport".
    if (n.hash && wildcards) n.hash->AppendTo(subs, shared);
    if (f.pos == kEnd) {
      n.AppendTo(subs, shared);
      continue;
    }
    size_t next = f.pos;
    const std::string_view level = NextLevel(topic, &next);
    if (!n.children.empty()) {
      auto it = n.children.find(level);
      if (it != n.children.end()) stack_.push_back(Frame{it->second.get(), next});
    }
    if (n.plus && wildcards) stack_.push_back(Frame{n.plus.get(), next});
  }
}

}  // namespace trib
