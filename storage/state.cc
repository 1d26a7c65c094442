// Catalog and counters; see state.h.

#include "storage/state.h"

namespace trib::storage {

const PartitionState* Catalog::Find(StreamId stream, uint32_t partition, Status* error) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  const StreamState* s = stream < streams_.size() ? streams_[stream].get() : nullptr;
  if (s == nullptr) {
    *error = Status(Error::kInvalid, "unknown stream id " + std::to_string(stream));
    return nullptr;
  }
  if (partition >= s->parts.size()) {
    *error = Status(Error::kInvalid, "partition " + std::to_string(partition) +
                                         " out of range (stream " + s->spec.name + " has " +
                                         std::to_string(s->parts.size()) + ")");
    return nullptr;
  }
  return s->parts[partition].get();
}

std::optional<StreamId> Catalog::FindStream(std::string_view name) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  auto it = by_name_.find(std::string(name));
  if (it == by_name_.end()) return std::nullopt;
  return it->second;
}

std::vector<std::pair<StreamId, StreamSpec>> Catalog::List() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  std::vector<std::pair<StreamId, StreamSpec>> out;
  for (const auto& s : streams_) {
    if (s) out.emplace_back(s->id, s->spec);
  }
  return out;
}

std::vector<MDB_dbi> Catalog::PartitionDbis() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  std::vector<MDB_dbi> out;
  for (const PartitionState* p : parts_) {
    out.push_back(p->data_dbi);
    out.push_back(p->time_dbi);
  }
  return out;
}

StreamState* Catalog::GetByName(std::string_view name) const {
  auto it = by_name_.find(std::string(name));
  return it == by_name_.end() ? nullptr : streams_[it->second].get();
}

void Catalog::Add(std::unique_ptr<StreamState> stream) {
  std::unique_lock<std::shared_mutex> lock(mu_);
  const StreamId id = stream->id;
  for (auto& p : stream->parts) {
    p->ordinal = static_cast<uint32_t>(parts_.size());
    parts_.push_back(p.get());
  }
  by_name_[stream->spec.name] = id;
  if (streams_.size() <= id) streams_.resize(id + 1);
  streams_[id] = std::move(stream);
}

void Catalog::SetSpec(StreamState* stream, const StreamSpec& spec) {
  std::unique_lock<std::shared_mutex> lock(mu_);
  stream->spec = spec;
}

void Histogram::Add(uint64_t us) {
  int i = 0;
  while (i < Stats::kBuckets && us > Stats::kBucketUs[i]) i++;
  buckets[i].fetch_add(1, std::memory_order_relaxed);
  sum.fetch_add(us, std::memory_order_relaxed);
}

// Stats wants cumulative counts: bucket i counts every sample <= its bound.
void Histogram::CopyTo(uint64_t* out, uint64_t* out_sum) const {
  uint64_t total = 0;
  for (int i = 0; i <= Stats::kBuckets; i++) {
    total += buckets[i].load(std::memory_order_relaxed);
    out[i] = total;
  }
  *out_sum = sum.load(std::memory_order_relaxed);
}

}  // namespace trib::storage
