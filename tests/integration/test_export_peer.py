"""Tributary to Tributary: the `peer` exporter and the daemon's $replicate side,
with real daemons on free loopback ports.

- edge -> central: QoS 1 publishes to the edge; the central goes away for a
  while (the edge keeps accepting); it comes back; the edge is SIGKILLed while
  it drains its backlog (paced, so "while" is a state we can wait for) and
  restarted. Afterwards both data directories hold the same records at the
  same offsets with the same timestamps: zero loss, zero duplicates.
- a chain gateway -> regional -> central keeps the gateway as the origin.
- hostile $replicate input gets clear reason codes and stores nothing."""
import json
import os
import struct
import subprocess
import time
import unittest
import urllib.request

import paho.mqtt.client as paho

from harness import (BIN_DIR, CONNACK, DISCONNECT, PUBACK, PUBREC, Closed, DaemonTest, RawClient,
                     free_port, wait_for)

DRIVER = os.path.join(BIN_DIR, "bridge_driver")
TOOL = os.path.join(BIN_DIR, "tributary")


# --- the stored batch format (storage/FORMAT.md), to craft $replicate input ---

def _crc_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


CRC_TABLE = _crc_table()


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc = CRC_TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def varint(n):
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def lp(b):
    b = b.encode() if isinstance(b, str) else b
    return varint(len(b)) + b


def record(payload, topic="sensors/x", key="k"):
    body = bytes([1]) + varint(0) + lp(key) + lp(topic) + lp(b"") + lp(payload)
    return varint(len(body)) + body


def batch(records, ts=1700000000000, count=None):
    body = b"".join(records)
    n = len(records) if count is None else count
    head = b"TB" + bytes([1, 0]) + struct.pack("<IqII", n, ts, len(body), len(body))
    return head + struct.pack("<II", crc32c(head + body), 0) + body


def frame(base, b):
    return struct.pack(">Q", base) + b


# --- helpers ---

def get_json(admin, path):
    with urllib.request.urlopen("http://%s%s" % (admin, path), timeout=10) as r:
        return json.loads(r.read())


def stream_ends(daemon, name):
    """{partition: end_offset} of a stream, or None when the daemon does not have it."""
    for s in get_json(daemon.addresses["admin"], "/v1/streams"):
        if s["name"] == name:
            return {p["partition"]: p["end_offset"] for p in s["partitions"]}
    return None


def metric(daemon, name):
    with urllib.request.urlopen("http://%s/metrics" % daemon.addresses["admin"], timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    raise AssertionError("no metric " + name)


def stream_names(daemon):
    return [s["name"] for s in get_json(daemon.addresses["admin"], "/v1/streams")]


def dump(data_dir, stream):
    r = subprocess.run([DRIVER, "dump", "--dir", data_dir, "--stream", stream],
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise AssertionError("dump %s of %s failed: %s" % (stream, data_dir, r.stderr))
    return [json.loads(line) for line in r.stdout.splitlines()]


def publish_acked(port, payloads, topics=10):
    """QoS 1 publishes (many in flight); returns the payloads whose PUBACK arrived."""
    c = paho.Client(client_id="pub-%d-%d" % (port, os.getpid()), protocol=paho.MQTTv311)
    c.max_inflight_messages_set(50)
    acked = []
    try:
        c.connect("127.0.0.1", port)
        c.loop_start()
        infos = [(p, c.publish("sensors/%d" % (i % topics), p, qos=1)) for i, p in enumerate(payloads)]
        for p, info in infos:
            info.wait_for_publish(30)
            if info.is_published():
                acked.append(p)
    finally:
        c.loop_stop()
        c.disconnect()
    return acked


class PeerTest(DaemonTest):
    def node(self, node_id, body, sync="always", port=None):
        """A daemon with node_id, a data dir and (optionally) a fixed MQTT port,
        so that a restarted upstream is found again at the same address."""
        d = self.daemon("")
        listener = '[[listener]]\nbind = "127.0.0.1:%d"\n' % port if port else ""
        d.config_text = ('node_id = "%s"\n[storage]\ndir = "%s"\nsync = "%s"\n%s%s'
                         % (node_id, d.data_dir, sync, body, listener))
        return d

    def assert_same_records(self, edge, edge_stream, central, central_stream):
        a = dump(edge.data_dir, edge_stream)
        b = dump(central.data_dir, central_stream)
        payloads = [r["payload"] for r in b]
        self.assertEqual(len(payloads), len(set(payloads)), "duplicates upstream")
        self.assertEqual(len(a), len(b))
        self.assertEqual(a, b, "offsets, timestamps, topics and payloads must match")
        return b


class EdgeToCentral(PeerTest):
    def run_outage_and_crash(self, sync):
        central_port = free_port()
        central = self.node("central", '[replication]\nenabled = true\n', sync, central_port)
        central.start()
        edge = self.node(
            "edge1",
            '[[stream]]\nname = "telemetry"\nsubjects = ["sensors/#"]\npartitions = 2\nkey = "topic"\n'
            '[[exporter]]\nname = "central"\nkind = "peer"\nstreams = ["telemetry"]\n'
            'url = "mqtt://127.0.0.1:%d"\nmax_bytes_per_sec = "24KiB"\n' % central_port, sync)
        edge.start()
        acked = publish_acked(edge.port, ["m%05d" % i for i in range(0, 200)])
        wait_for(lambda: stream_ends(central, "edge1.telemetry") == stream_ends(edge, "telemetry"),
                 60, "the first records upstream")
        central.stop()  # the upstream goes away; the edge keeps accepting
        acked += publish_acked(edge.port, ["m%05d" % i for i in range(200, 1700)])
        edge_total = sum(stream_ends(edge, "telemetry").values())
        central.start()
        before = 200

        def mid_drain():
            ends = stream_ends(central, "edge1.telemetry") or {}
            return before < sum(ends.values()) < edge_total
        wait_for(mid_drain, 120, "the edge to be draining its backlog")
        edge.kill()  # SIGKILL mid-drain
        edge.start()
        acked += publish_acked(edge.port, ["m%05d" % i for i in range(1700, 1900)])
        self.assertGreaterEqual(len(acked), 1880, "the edge should acknowledge nearly everything")
        wait_for(lambda: stream_ends(central, "edge1.telemetry") == stream_ends(edge, "telemetry"),
                 180, "central to catch up with the edge")
        wait_for(lambda: get_json(edge.addresses["admin"], "/v1/exporters")[0]["partitions"][0]["lag_records"] == 0
                 and get_json(edge.addresses["admin"], "/v1/exporters")[0]["partitions"][1]["lag_records"] == 0,
                 60, "exporter lag zero")
        # Re-sent after the SIGKILL (how many depends on where the kill hit).
        print("central: %d records replicated, %d duplicate messages ignored" % (
            metric(central, "tributary_replicated_records_total"),
            metric(central, "tributary_replication_duplicates_total")))
        self.assertEqual(edge.stop(), 0)
        self.assertEqual(central.stop(), 0)
        got = self.assert_same_records(edge, "telemetry", central, "edge1.telemetry")
        payloads = {r["payload"] for r in got}
        self.assertEqual(set(acked) - payloads, set(), "acknowledged messages missing upstream")

    def test_messages_fit_the_upstreams_maximum_packet_size(self):
        """The upstream announces Maximum Packet Size 16 KiB in its CONNACK: the
        peer packs its batches into messages below it (a bigger one would be
        refused with 0x95 and the link dropped, again and again)."""
        central_port = free_port()
        central = self.node("central", '[limits]\nmax_packet_size = "16KiB"\n'
                            '[replication]\nenabled = true\n', "always", central_port)
        edge = self.node(
            "edge1",
            '[[stream]]\nname = "telemetry"\nsubjects = ["sensors/#"]\npartitions = 2\nkey = "topic"\n'
            '[[exporter]]\nname = "central"\nkind = "peer"\nstreams = ["telemetry"]\n'
            'url = "mqtt://127.0.0.1:%d"\n' % central_port)
        edge.start()
        # A backlog of small batches while the upstream is down, so that a
        # message could hold far more than 16 KiB of them.
        acked = publish_acked(edge.port, ["m%05d-%s" % (i, "x" * 100) for i in range(3000)])
        self.assertEqual(len(acked), 3000)
        central.start()
        wait_for(lambda: stream_ends(central, "edge1.telemetry") == stream_ends(edge, "telemetry"),
                 60, "central to catch up with the edge")
        ex = get_json(edge.addresses["admin"], "/v1/exporters")[0]
        self.assertEqual(ex["reconnects"], 0, "the link was dropped: %r" % ex.get("last_error"))
        self.assertEqual(edge.stop(), 0)
        self.assertEqual(central.stop(), 0)
        self.assert_same_records(edge, "telemetry", central, "edge1.telemetry")

    def test_outage_and_sigkill_zero_loss_zero_duplicates(self):
        self.run_outage_and_crash("always")

    def test_outage_and_sigkill_with_sync_interval(self):
        self.run_outage_and_crash("interval")


class Chain(PeerTest):
    def test_gateway_regional_central_keeps_the_origin(self):
        central = self.node("central", '[replication]\nenabled = true\n', "interval")
        central.start()
        regional = self.node(
            "regional",
            '[replication]\nenabled = true\n'
            '[[stream]]\nname = "events"\nsubjects = ["events/#"]\n'
            '[[exporter]]\nname = "up"\nkind = "peer"\nstreams = ["events"]\nforward_replicated = true\n'
            'url = "mqtt://127.0.0.1:%d"\n' % central.port, "interval")
        regional.start()
        gw = self.node(
            "gw1",
            '[[stream]]\nname = "telemetry"\nsubjects = ["sensors/#"]\npartitions = 3\nkey = "topic"\n'
            'compression = "zstd"\n'
            '[[exporter]]\nname = "up"\nkind = "peer"\nstreams = ["telemetry"]\n'
            'url = "mqtt://127.0.0.1:%d"\n' % regional.port, "interval")
        gw.start()
        acked = publish_acked(gw.port, ["g%04d" % i for i in range(300)])
        c = paho.Client(client_id="ev", protocol=paho.MQTTv311)
        c.connect("127.0.0.1", regional.port)
        c.loop_start()
        for i in range(20):
            c.publish("events/x", "e%d" % i, qos=1).wait_for_publish(30)
        c.loop_stop()
        c.disconnect()
        wait_for(lambda: stream_ends(central, "gw1.telemetry") == stream_ends(gw, "telemetry"),
                 120, "gw1.telemetry at central")
        wait_for(lambda: stream_ends(central, "regional.events") == stream_ends(regional, "events"),
                 60, "regional.events at central")
        self.assertEqual(sorted(stream_names(central)), ["gw1.telemetry", "regional.events"])
        for d in (gw, regional, central):
            self.assertEqual(d.stop(), 0)
        got = self.assert_same_records(gw, "telemetry", central, "gw1.telemetry")
        self.assertEqual({r["payload"] for r in got}, set(acked))
        self.assert_same_records(gw, "telemetry", regional, "gw1.telemetry")
        self.assert_same_records(regional, "events", central, "regional.events")


ACL = """user peer
topic readwrite $replicate/#
topic read #

user dev
topic readwrite sensors/#
"""


class Hostile(PeerTest):
    def start_central(self):
        d = self.node("central", "[replication]\nenabled = true\n")
        acl = os.path.join(d.workdir, "acl")
        with open(acl, "w") as f:
            f.write(ACL)
        pw = os.path.join(d.workdir, "passwords")
        for user in ("peer", "dev"):
            subprocess.run([TOOL, "passwd", "-b", pw, user], input="pw\n", text=True, check=True, timeout=30)
        d.config_text += '[auth]\npassword_file = "%s"\nacl_file = "%s"\n' % (pw, acl)
        return d.start()

    def client(self, port, user, version=5):
        c = RawClient(port, version)
        c.connect("c-%s-%d" % (user, time.monotonic_ns()), username=user, password=b"pw")
        self.addCleanup(c.close)
        return c

    def rc(self, c, topic, payload, partitions="2", qos=1):
        props = {"user": [("tributary-partitions", partitions)]} if partitions else None
        ack = c.publish(topic, payload, qos=qos, props=props)
        return getattr(ack, "rc", 0)

    def test_bad_input_gets_reason_codes_and_stores_nothing(self):
        d = self.start_central()
        watcher = self.client(d.port, "peer")
        watcher.subscribe(("$replicate/#", 1), ("#", 1))
        peer = self.client(d.port, "peer")
        good = batch([record("a"), record("b"), record("c")])
        t = "$replicate/e1/tel/0"
        self.assertEqual(self.rc(peer, t, frame(0, good)), 0)
        self.assertEqual(self.rc(peer, t, frame(0, good)), 0, "a duplicate is acknowledged")
        bad_crc = bytearray(good)
        bad_crc[40] ^= 1
        self.assertEqual(self.rc(peer, t, frame(3, bytes(bad_crc))), 0x99)
        self.assertEqual(self.rc(peer, t, b"not batches"), 0x99)
        self.assertEqual(self.rc(peer, t, frame(3, good)[:-2]), 0x99, "truncated")
        junk = batch([b"\xff" * 20])
        self.assertEqual(self.rc(peer, t, frame(3, junk)), 0x99, "CRC fine, records are not")
        self.assertEqual(self.rc(peer, t, frame(3, batch([record("x")], count=2))), 0x99)
        self.assertEqual(self.rc(peer, "$replicate/e1/tel/5", frame(3, good)), 0x99, "partition >= count")
        self.assertEqual(self.rc(peer, t, frame(3, batch([record("x")], ts=-5))), 0x99, "time before 1970")
        # A few bytes claiming to decompress to 1 GiB: refused before any allocation.
        body = b"\x28\xb5\x2f\xfd" + b"\0" * 12
        head = b"TB" + bytes([1, 1]) + struct.pack("<IqII", 1, 1700000000000, len(body), 1 << 30)
        bomb = head + struct.pack("<II", crc32c(head + body), 0) + body
        self.assertEqual(self.rc(peer, t, frame(3, bomb)), 0x99, "decompressed size too large")
        wait_for(lambda: "decompresses to more than" in d.output(), 10, "the refusal logged")
        self.assertIn("timestamp is out of range", d.output())
        self.assertEqual(self.rc(peer, t, frame(3, good), partitions=None), 0x83)
        self.assertEqual(self.rc(peer, t, frame(3, good), partitions="3"), 0x83, "count conflicts")
        self.assertEqual(self.rc(peer, "$replicate/e1/tel", frame(3, good)), 0x90)
        self.assertEqual(self.rc(peer, "$replicate/e.1/tel/0", frame(3, good)), 0x90)
        rec = peer.publish(t, frame(3, good), qos=2, props={"user": [("tributary-partitions", "2")]})
        self.assertEqual(rec.type, PUBREC)
        self.assertEqual(rec.rc, 0x83)
        dev = self.client(d.port, "dev")
        self.assertEqual(self.rc(dev, t, frame(3, good)), 0x87, "the ACL denies")
        q0 = self.client(d.port, "peer")
        q0.publish(t, frame(3, good), qos=0, props={"user": [("tributary-partitions", "2")]})
        disc = q0.expect_close()
        self.assertIsNotNone(disc)
        self.assertEqual(disc.rc, 0x83)
        old = self.client(d.port, "peer", version=4)
        old.publish(t, frame(3, good), qos=1, wait=False)
        self.assertIsNone(old.expect_close())
        # Still fine after all that; nothing of it reached a subscriber.
        self.assertEqual(self.rc(peer, t, frame(3, batch([record("d")]))), 0)
        watcher.no_message(0.5)
        self.assertEqual(metric(d, "tributary_replication_duplicates_total"), 1)
        self.assertEqual(metric(d, "tributary_replicated_records_total"), 4)
        self.assertGreaterEqual(metric(d, "tributary_replication_refused_total"), 13)
        self.assertEqual(d.stop(), 0)
        got = dump(d.data_dir, "e1.tel")
        self.assertEqual([(r["partition"], r["offset"], r["payload"]) for r in got],
                         [(0, 0, "a"), (0, 1, "b"), (0, 2, "c"), (0, 3, "d")])
        self.assertEqual(got[0]["timestamp"], 1700000000000)

    def test_replication_is_off_by_default(self):
        d = self.node("central", "").start()
        c = RawClient(d.port, 5)
        c.connect("x")
        self.addCleanup(c.close)
        self.assertEqual(self.rc(c, "$replicate/e1/tel/0", frame(0, batch([record("a")]))), 0x87)
        self.assertEqual(d.stop(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
