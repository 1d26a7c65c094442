// Writes the seed corpus of the fuzz targets with the codec's and the
// storage's own encoders:
//   fuzz_make_corpus tests/fuzz/corpus
// One file per seed: byte 0 picks the version (0 = 3.1.1, 1 = 5.0), then one
// or more packets; for the topic target "<filter>\xFF<topic>"; for
// storage_batch a flags byte and a stored batch; for replicate a flags byte,
// a $replicate topic, 0xFF and a payload of frames. The output is committed;
// rerun it when the packet or batch formats change. (corpus/auth_* and
// corpus/config are written by hand: see their targets.)

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <vector>

#include "daemon/mqtt/codec.h"
#include "storage/batch.h"

using namespace trib::mqtt;

namespace {

struct Writer {
  std::filesystem::path dir;
  int n = 0;
  void Seed(const std::string& bytes) {
    std::filesystem::create_directories(dir);
    char name[32];
    std::snprintf(name, sizeof name, "seed_%02d", n++);
    std::ofstream(dir / name, std::ios::binary) << bytes;
  }
  void Packet(Version v, const std::string& packets) {
    Seed(std::string(1, v == Version::k5 ? '\1' : '\0') + packets);
  }
};

const Version kBoth[] = {Version::k311, Version::k5};

void Connects(Writer& w) {
  for (Version v : kBoth) {
    Connect c;
    c.version = v;
    c.clean_start = true;
    c.keep_alive = 60;
    c.client_id = "sensor-1";
    std::string s;
    EncodeConnect(&s, c);
    w.Packet(v, s);
    c.username = "user";
    c.password = "secret";
    c.will.emplace();
    c.will->qos = 1;
    c.will->retain = true;
    c.will->topic = "dev/sensor-1/status";
    c.will->payload = "offline";
    if (v == Version::k5) {
      c.props.session_expiry_interval = 3600;
      c.props.receive_maximum = 32;
      c.props.maximum_packet_size = 65536;
      c.props.topic_alias_maximum = 8;
      c.props.request_problem_information = true;
      c.props.request_response_information = false;
      c.props.authentication_method = "PLAIN";
      c.props.authentication_data = "abc";
      c.props.user_properties = {{"site", "gw-7"}};
      c.will->props.will_delay_interval = 10;
      c.will->props.payload_format_indicator = 1;
      c.will->props.message_expiry_interval = 60;
      c.will->props.content_type = "text/plain";
      c.will->props.response_topic = "dev/reply";
      c.will->props.correlation_data = "id-1";
    }
    s.clear();
    EncodeConnect(&s, c);
    w.Packet(v, s);
  }
  // MQTT 3.1 ("MQIsdp" 3): refused with a distinct code.
  w.Packet(Version::k311, std::string("\x10\x0f\x00\x06MQIsdp\x03\x02\x00\x3c\x00\x01x", 17));
}

void Publishes(Writer& w) {
  for (Version v : kBoth) {
    std::string s;
    PublishOut p;
    p.topic = "sensors/kitchen/temp";
    p.payload = "21.5";
    EncodePublish(&s, v, p);
    w.Packet(v, s);
    p.qos = 1;
    p.packet_id = 1;
    EncodePublish(&s, v, p);
    p.qos = 2;
    p.packet_id = 2;
    p.retain = true;
    p.dup = true;
    EncodePublish(&s, v, p);
    w.Packet(v, s);  // three packets in one read
  }
  Properties props;
  props.payload_format_indicator = 1;
  props.content_type = "application/json";
  props.response_topic = "reply/1";
  props.correlation_data = "corr";
  props.user_properties = {{"k", "v"}, {"k", "w"}};
  std::string raw;
  AppendProperties(&raw, props);
  const uint32_t ids[] = {1, 70000};
  PublishOut p;
  p.topic = "a/b";
  p.payload = "{\"t\":1}";
  p.qos = 1;
  p.packet_id = 9;
  p.message_expiry_interval = 30;
  p.subscription_identifiers = ids;
  p.topic_alias = 3;
  p.raw_properties = raw;
  std::string s;
  EncodePublish(&s, Version::k5, p);
  w.Packet(Version::k5, s);
  p.topic = "";  // by alias
  s.clear();
  EncodePublish(&s, Version::k5, p);
  w.Packet(Version::k5, s);
}

void Subscribes(Writer& w) {
  for (Version v : kBoth) {
    Subscribe s;
    s.packet_id = 1;
    s.subscriptions.push_back({"sensors/#", 1});
    s.subscriptions.push_back({"+/status", 0});
    s.subscriptions.push_back({"$share/workers/jobs/+", 2});
    if (v == Version::k5) {
      s.props.subscription_identifiers = {42};
      s.props.user_properties = {{"replay", "earliest"}};
      s.subscriptions[0].retain_as_published = true;
      s.subscriptions[0].retain_handling = 2;
      s.subscriptions[1].no_local = true;
    }
    std::string out;
    EncodeSubscribe(&out, v, s);
    w.Packet(v, out);
    Unsubscribe u;
    u.packet_id = 2;
    u.filters = {"sensors/#", "$share/workers/jobs/+"};
    if (v == Version::k5) u.props.user_properties = {{"a", "b"}};
    out.clear();
    EncodeUnsubscribe(&out, v, u);
    w.Packet(v, out);
  }
}

void Acks(Writer& w) {
  for (Version v : kBoth) {
    std::string s;
    EncodeAck(&s, v, PacketType::kPuback, 1);
    EncodeAck(&s, v, PacketType::kPubrec, 2);
    EncodeAck(&s, v, PacketType::kPubrel, 2);
    EncodeAck(&s, v, PacketType::kPubcomp, 2);
    EncodePingreq(&s);
    EncodePingresp(&s);
    EncodeDisconnect(&s, v, ReasonCode::kNormalDisconnection);
    w.Packet(v, s);
  }
  std::string s;
  Ack a;
  a.type = PacketType::kPubrec;
  a.packet_id = 7;
  a.reason = ReasonCode::kQuotaExceeded;
  a.props.reason_string = "stream full";
  a.props.user_properties = {{"stream", "telemetry"}};
  EncodeAck(&s, Version::k5, a);
  EncodeAck(&s, Version::k5, PacketType::kPubcomp, 8, ReasonCode::kPacketIdentifierNotFound);
  Disconnect d;
  d.reason = ReasonCode::kServerMoved;
  d.props.server_reference = "other:1883";
  d.props.session_expiry_interval = 0;
  d.props.reason_string = "moved";
  EncodeDisconnect(&s, Version::k5, d);
  w.Packet(Version::k5, s);
  s.clear();
  Auth au;
  au.reason = ReasonCode::kContinueAuthentication;
  au.props.authentication_method = "SCRAM-SHA-256";
  au.props.authentication_data = "r=abc";
  EncodeAuth(&s, Version::k5, au);
  EncodeAuth(&s, Version::k5, Auth{});
  w.Packet(Version::k5, s);
}

void ClientSide(Writer& w) {
  for (Version v : kBoth) {
    std::string s;
    Connack c;
    c.session_present = true;
    if (v == Version::k5) {
      Properties& p = c.props;
      p.session_expiry_interval = 60;
      p.receive_maximum = 64;
      p.maximum_qos = 1;
      p.retain_available = true;
      p.maximum_packet_size = 1 << 20;
      p.assigned_client_identifier = "auto-0001";
      p.topic_alias_maximum = 16;
      p.reason_string = "ok";
      p.wildcard_subscription_available = true;
      p.subscription_identifier_available = true;
      p.shared_subscription_available = true;
      p.server_keep_alive = 300;
      p.response_information = "resp/";
      p.server_reference = "backup:1883";
      p.user_properties = {{"node", "gw"}};
    }
    EncodeConnack(&s, v, c);
    const ReasonCode codes[] = {ReasonCode::kGrantedQos1, ReasonCode::kGrantedQos2,
                                ReasonCode::kNotAuthorized};
    EncodeSuback(&s, v, 1, codes);
    const ReasonCode ucodes[] = {ReasonCode::kSuccess, ReasonCode::kNoSubscriptionExisted};
    EncodeUnsuback(&s, v, 2, ucodes);
    w.Packet(v, s);
    s.clear();
    Connack refused;
    refused.reason = ReasonCode::kBadUserNameOrPassword;
    EncodeConnack(&s, v, refused);
    w.Packet(v, s);
  }
}

void Topics(Writer& w) {
  const char* const pairs[][2] = {
      {"sport/tennis/+", "sport/tennis/player1"},
      {"sport/#", "sport"},
      {"#", "$SYS/broker/uptime"},
      {"$SYS/#", "$SYS/broker/uptime"},
      {"+/+", "/finance"},
      {"$share/group/a/+/c", "a/b/c"},
      {"a/b", "a/b"},
      {"caf\xC3\xA9/+", "caf\xC3\xA9/\xF0\x9D\x84\x9E"},
      {"a/#/b", "a//b"},
      {"$share//x", "x"},
  };
  for (const auto& p : pairs) w.Seed(std::string(p[0]) + '\xFF' + p[1]);
}

// Stored batches as the writer builds them (storage/batch.h).
std::string PlainBatch(const std::vector<trib::storage::RecordIn>& recs,
                       const std::vector<int64_t>& deltas, int64_t ts) {
  using namespace trib::storage;
  std::string body;
  for (size_t i = 0; i < recs.size(); i++) AppendRecord(&body, recs[i], deltas[i]);
  std::string out(kBatchHeaderBytes + body.size(), '\0');
  const Chunk c{body.data(), body.size()};
  EncodeBatch(out.data(), std::span<const Chunk>(&c, 1), static_cast<uint32_t>(recs.size()), ts);
  return out;
}

std::string ZstdBatch(int records, int64_t ts) {
  using namespace trib::storage;
  std::string body;
  for (int i = 0; i < records; i++) {
    const std::string payload = "{\"temp\":" + std::to_string(20 + i % 5) + "}";
    AppendRecord(&body, RecordIn{"dev-1", "sensors/dev-1/temp", payload, "", 1, false}, i);
  }
  std::string out;
  Compressor z;
  if (!z.Encode(body, static_cast<uint32_t>(records), ts, &out)) std::abort();
  return out;
}

struct Batches {
  std::string one, three, zstd, big;
};

Batches SomeBatches() {
  using trib::storage::RecordIn;
  static const char kProps[] = "\x01\x01\x26\x00\x01k\x00\x01v";  // format 1, user property
  const std::string big(300, 'x');
  Batches b;
  b.one = PlainBatch({RecordIn{"sensor-1", "sensors/kitchen/temp", "21.5",
                               std::string_view(kProps, sizeof kProps - 1), 1, true}},
                     {0}, 1700000000123);
  b.three =
      PlainBatch({RecordIn{"", "a/b", "x", "", 0, false}, RecordIn{"k", "a/c", "", "", 2, false},
                  RecordIn{"k", "", "yz", "", 1, true}},
                 {0, -5, 40}, 1700000000000);
  b.zstd = ZstdBatch(50, 1700000001000);
  b.big = PlainBatch({RecordIn{"", "t", big, "", 0, false}}, {0}, -1);
  return b;
}

void StorageBatches(Writer& w, const Batches& b) {
  // Flags 0: the value as is; 3: the target fixes the body length and CRC.
  for (const std::string* v : {&b.one, &b.three, &b.zstd, &b.big}) w.Seed('\0' + *v);
  for (const std::string* v : {&b.three, &b.zstd}) w.Seed('\3' + *v);
}

std::string Frame(uint64_t base, const std::string& batch) {
  std::string f(8, '\0');
  for (int i = 0; i < 8; i++) f[i] = static_cast<char>(base >> (56 - 8 * i));
  return f + batch;
}

void Replicates(Writer& w, const Batches& b) {
  const std::string plain(1, '\0'), fix_crc(1, '\1'), sep(1, '\xFF');
  w.Seed(plain + "$replicate/gw1/telemetry/0" + sep + Frame(0, b.one));
  w.Seed(plain + "$replicate/gw-7/t_x/3" + sep + Frame(100, b.three) + Frame(103, b.zstd) +
         Frame(200, b.big));
  w.Seed(fix_crc + "$replicate/central/events/1023" + sep + Frame(~uint64_t{0} - 60, b.zstd));
  w.Seed(plain + "$replicate/a.b/c/1" + sep + Frame(5, b.one));  // origin with '.': refused
  w.Seed(plain + "1024");                                        // as a tributary-partitions value
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
    return 2;
  }
  const std::filesystem::path root(argv[1]);
  Writer connect{root / "connect"}, publish{root / "publish"}, subscribe{root / "subscribe"},
      acks{root / "acks"}, client{root / "client"}, topic{root / "topic"};
  Connects(connect);
  Publishes(publish);
  Subscribes(subscribe);
  Acks(acks);
  ClientSide(client);
  Topics(topic);
  Writer storage_batch{root / "storage_batch"}, replicate{root / "replicate"};
  const Batches batches = SomeBatches();
  StorageBatches(storage_batch, batches);
  Replicates(replicate, batches);
  return 0;
}
