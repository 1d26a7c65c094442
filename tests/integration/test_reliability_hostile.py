"""Hostile clients against the real daemon. In every test a well-behaved pair
(a QoS 1 subscriber and a publisher, one on a stream topic and one on an
in-memory topic) must keep working, the daemon must stay up, and its memory
must stay bounded:

- 10,000 idle connections (or as many as the open-file limit allows; the
  number is printed), held by tools/loadgen;
- connections that send nothing, or one byte a second (before and after
  CONNECT);
- random bytes and mutated valid packets from many connections at once
  (seeded: TRIB_HOSTILE_SEED replays a run);
- oversize packets, announced or sent in full;
- a subscriber that never reads: it gets what fits in its output cap, the
  rest waits (stream) or is bounded (in-memory queue), and once it also
  makes the daemon queue acknowledgements it cannot send, it is
  disconnected at the hard cap;
- MQTT 3.1.1 publish-rate limiting, which slows reading instead of
  disconnecting.

Memory bounds are generous on purpose (ASan build, shared machine); the
measured figures are printed."""
import json
import os
import random
import resource
import socket
import struct
import subprocess
import threading
import time
import unittest

from harness import (BIN_DIR, PINGREQ, PUBACK, PUBLISH, Closed, MqttTest, RawClient, enc_props, enc_str,
                     packet, wait_for)
from reliability import EnvDaemon, metrics, quiet_asan_env, rss_kib

V311, V5 = 4, 5
LOADGEN = os.path.join(BIN_DIR, "loadgen")
SEED = int(os.environ.get("TRIB_HOSTILE_SEED", str(int(time.time() * 1000) % 1000000)))
MiB = 1024

CONFIG = """[[stream]]
name = "s"
subjects = ["s/#"]
[limits]
max_connections = 12000
connect_timeout = "3s"
max_packet_size = "64KiB"
max_output_bytes = "64KiB"
max_queued_messages = 200
"""


def raise_fd_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def builder(version):
    """A RawClient without a socket: only its packet builders are used."""
    c = RawClient.__new__(RawClient)
    c.version, c.next_pid = version, 1
    return c


def raw_small_rcvbuf(port, version, rcvbuf=4096):
    """A RawClient whose socket has a small receive buffer (set before
    connecting, so the window stays small)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    c = RawClient.__new__(RawClient)
    c.version, c.sock, c.buf, c.next_pid, c.timeout, c.queued = version, s, bytearray(), 1, 10.0, []
    return c


class Hostile(MqttTest):
    def setUp(self):
        super().setUp()
        raise_fd_limit()
        self.d = EnvDaemon(CONFIG, env=quiet_asan_env(), port=0)
        self.daemons.append(self.d)
        self.d.start()
        self.sub = self.client(self.d.port, V5, "healthy-sub")
        self.sub.subscribe(("healthy/#", 1), ("s/healthy", 1), expect=[1, 1])
        self.pub = self.client(self.d.port, V311, "healthy-pub")
        self.n = 0
        self.still_serving()
        self.rss0 = rss_kib(self.d.proc.pid)

    def still_serving(self):
        """The well-behaved pair works: one in-memory and one stored message."""
        self.assertIsNone(self.d.proc.poll(), "tributaryd died:\n" + self.d.output()[-4000:])
        for topic in ("healthy/t", "s/healthy"):
            self.n += 1
            self.pub.publish(topic, b"ok-%d" % self.n, qos=1)
            (m,) = self.sub.messages(1, timeout=30)
            self.assertEqual(m.payload, b"ok-%d" % self.n)

    def assert_rss_below(self, bound_kib, what):
        rss = rss_kib(self.d.proc.pid)
        print("%s: RSS %d KiB (started at %d KiB)" % (what, rss, self.rss0))
        self.assertLess(rss, bound_kib, "%s: RSS %d KiB" % (what, rss))

    # -- many idle connections ----------------------------------------------------------
    def test_ten_thousand_idle_connections(self):
        limit = raise_fd_limit()
        n = min(10000, limit - 500)
        print("open-file limit %d: opening %d idle connections" % (limit, n))
        ready = os.path.join(self.d.workdir, "idle.ready")
        lg = subprocess.Popen([LOADGEN, "--port", str(self.d.port), "--idle", "-c", str(n), "--ready-file", ready,
                               "--timeout", "600"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            wait_for(lambda: os.path.exists(ready) or lg.poll() is not None, 400, "loadgen connections")
            if lg.poll() is not None:
                out, err = lg.communicate()
                self.fail("loadgen ended early: %s %s" % (out[-2000:], err[-2000:]))
            wait_for(lambda: metrics(self.d)["tributary_connections"] >= n + 2, 60, "the daemon to count them")
            self.still_serving()
            rss = rss_kib(self.d.proc.pid)
            print("%d idle connections: RSS %d KiB, %.2f KiB per connection (ASan build)"
                  % (n, rss, (rss - self.rss0) / n))
            # Generous: ASan pads every allocation.
            self.assertLess(rss - self.rss0, n * 64, "per-connection memory out of bounds")
        finally:
            if lg.poll() is None:
                lg.terminate()
            out, err = lg.communicate(120)
        report = json.loads(out.strip().splitlines()[-1])
        self.assertEqual(report["connected"], n, err[-2000:])
        self.assertEqual(report["disconnects"], 0, "the daemon dropped idle connections: %r" % report["errors"])
        wait_for(lambda: metrics(self.d)["tributary_connections"] <= 2, 120, "the connections to go")
        self.still_serving()

    # -- silent and slow connections ---------------------------------------------------------
    def test_silent_and_one_byte_a_second_connections(self):
        silent = [socket.create_connection(("127.0.0.1", self.d.port), 10) for _ in range(200)]
        connect = builder(V311).connect_packet("slowloris", True, 60)
        slow = [socket.create_connection(("127.0.0.1", self.d.port), 10) for _ in range(50)]
        # A connected client that trickles a whole QoS 1 PUBLISH: slow, but legal.
        trickler = self.client(self.d.port, V311, "trickler")
        trickled = trickler.publish_packet("s/trickle", b"slow but sure", qos=1, pid=9)
        closed = set()
        deadline = time.monotonic() + 60
        i = 0
        while time.monotonic() < deadline and (len(closed) < len(silent) + len(slow) or i < len(trickled)):
            for k, s in enumerate(slow):
                if ("slow", k) in closed:
                    continue
                try:
                    s.send(connect[i % len(connect):i % len(connect) + 1])
                except OSError:
                    closed.add(("slow", k))
            if i < len(trickled):
                trickler.send(trickled[i:i + 1])
            i += 1
            for name, socks in (("silent", silent), ("slow", slow)):
                for k, s in enumerate(socks):
                    if (name, k) in closed:
                        continue
                    s.setblocking(False)
                    try:
                        if s.recv(64) == b"":
                            closed.add((name, k))
                    except BlockingIOError:
                        pass
                    except OSError:
                        closed.add((name, k))
            if i % 5 == 0:
                self.still_serving()
            time.sleep(1)
        for s in silent + slow:
            s.close()
        self.assertEqual(len(closed), len(silent) + len(slow),
                         "connections without CONNECT must be cut after connect_timeout")
        ack = trickler.expect(PUBACK, 30)
        self.assertEqual((ack.pid, ack.rc), (9, 0))
        self.still_serving()
        self.assert_rss_below(self.rss0 + 64 * MiB, "after slow connections")

    # -- random and mutated packets -----------------------------------------------------------
    def templates(self, rng, v):
        c = builder(v)
        props = enc_props({"user": [("k", "v")]}) if v == V5 else b""
        pid = struct.pack(">H", rng.randint(1, 65535))
        return [
            c.publish_packet("fuzz/%d" % rng.randint(0, 9), b"p" * rng.randint(0, 300), qos=rng.randint(0, 2),
                             pid=rng.randint(1, 65535), retain=rng.random() < 0.1,
                             props={"message_expiry": 5} if v == V5 else None),
            c.publish_packet("s/fuzz", b"stored", qos=1, pid=rng.randint(1, 65535)),
            packet(8, 2, pid + props + enc_str("fuzz/#") + bytes([rng.randint(0, 2)])),
            packet(10, 2, pid + props + enc_str("fuzz/#")),
            c.ack_packet(rng.choice([4, 5, 6, 7]), rng.randint(1, 65535)),
            bytes([PINGREQ << 4, 0]),
            packet(14, 0, b"\x00" if v == V5 else b""),
            c.connect_packet("again"),
        ]

    def mutate(self, rng, data):
        data = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            op = rng.randrange(6)
            if op == 0 and data:
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
            elif op == 1 and data:
                data[rng.randrange(len(data))] = rng.randrange(256)
            elif op == 2:
                pos = rng.randint(0, len(data))
                data[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
            elif op == 3 and len(data) > 2:
                a = rng.randrange(len(data))
                del data[a:a + rng.randint(1, 6)]
            elif op == 4 and len(data) > 1:
                del data[rng.randint(1, len(data) - 1):]
            elif op == 5 and len(data) > 1:
                data[1] = rng.choice([0x00, 0x7F, 0xFF, rng.randrange(256)])
        return bytes(data)

    def fuzz_connection(self, rng, tag):
        v = rng.choice([V311, V5])
        try:
            s = socket.create_connection(("127.0.0.1", self.d.port), 10)
        except OSError:
            return "refused"
        try:
            if rng.random() < 0.3:
                out = bytes(rng.randrange(256) for _ in range(rng.randint(1, 3000)))
            else:
                c = builder(v)
                out = c.connect_packet("fz-%s" % tag, rng.random() < 0.8, 30)
                for _ in range(rng.randint(1, 25)):
                    p = rng.choice(self.templates(rng, v))
                    out += self.mutate(rng, p) if rng.random() < 0.6 else p
            s.sendall(out)
            s.settimeout(1.0)
            while s.recv(65536):
                pass
            return "closed"
        except socket.timeout:
            return "open"
        except OSError:
            return "reset"
        finally:
            s.close()

    def test_random_and_mutated_packets_from_many_connections(self):
        print("hostile seed %d (TRIB_HOSTILE_SEED=%d replays it)" % (SEED, SEED))
        outcomes = {}
        lock = threading.Lock()

        def worker(w):
            rng = random.Random(SEED * 100 + w)
            for k in range(40):
                r = self.fuzz_connection(rng, "%d-%d" % (w, k))
                with lock:
                    outcomes[r] = outcomes.get(r, 0) + 1

        threads = [threading.Thread(target=worker, args=(w,), daemon=True) for w in range(12)]
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            self.still_serving()
            time.sleep(0.3)
        for t in threads:
            t.join()
        print("fuzz connections: %r" % outcomes)
        self.still_serving()
        m = metrics(self.d)
        self.assertGreater(m["tributary_malformed_packets_total"], 0)
        self.assertNotIn("AddressSanitizer", self.d.output())
        self.assertNotIn("runtime error", self.d.output())
        self.assert_rss_below(self.rss0 + 128 * MiB, "after fuzzing")

    # -- oversize packets ----------------------------------------------------------------------
    def test_oversize_packets(self):
        for v in (V311, V5):
            with self.subTest(version=v):
                # Announced: a remaining length of 256 MiB - 1; nothing else sent.
                c = self.client(self.d.port, v, "big-announced-%d" % v)
                c.send(bytes([0x30]) + b"\xff\xff\xff\x7f")
                disc = c.expect_close(10)
                if v == V5:
                    self.assertEqual(disc.rc, 0x95)
                # Sent in full: 1 MiB against a 64 KiB limit.
                c = self.client(self.d.port, v, "big-sent-%d" % v)
                try:
                    c.send(c.publish_packet("s/big", b"B" * (1 << 20), qos=1, pid=1))
                except OSError:
                    pass  # closed while we were still sending
                disc = c.expect_close(10)
                if v == V5 and disc is not None:
                    self.assertEqual(disc.rc, 0x95)
                # Before CONNECT too.
                c = self.rawsock(self.d.port, v)
                c.send(bytes([0x10]) + b"\xff\xff\xff\x7f" + b"x" * 1000)
                c.expect_close(10)
                self.still_serving()
        self.assert_rss_below(self.rss0 + 64 * MiB, "after oversize packets")

    # -- a subscriber that never reads ---------------------------------------------------------
    def test_subscriber_that_never_reads(self):
        slow = raw_small_rcvbuf(self.d.port, V5)
        slow.connect("never-reads")
        slow.subscribe(("flood/#", 0), ("s/flood", 1), expect=[0, 1])
        flood = self.client(self.d.port, V5, "flooder")
        payload = b"F" * 16384
        # 16 MiB in memory-only messages, 8 MiB into the stream.
        for burst in range(16):
            out = b"".join(flood.publish_packet("flood/x", payload) for _ in range(64))
            flood.send(out)
        for burst in range(8):
            pids = [flood.pid() for _ in range(32)]
            flood.send(b"".join(flood.publish_packet("s/flood", b"%06d" % (burst * 32 + i) + payload, qos=1, pid=p)
                                for i, p in enumerate(pids)))
            for _ in pids:
                self.assertEqual(flood.expect(PUBACK, 30).rc, 0)
        self.still_serving()
        # Bounded: the output cap (64 KiB), the in-memory queue (200 messages)
        # and kernel buffers; stream records wait in the log.
        self.assert_rss_below(self.rss0 + 96 * MiB, "a subscriber that never reads, 24 MiB published")
        self.assertIsNone(self.d.proc.poll())
        # It reads now: every stored record arrives, in order.
        got = []
        deadline = time.monotonic() + 120
        while len(got) < 256 and time.monotonic() < deadline:
            p = slow.expect(PUBLISH, 30)
            if p.topic == "s/flood":
                got.append(int(p.payload[:6]))
                slow.send(slow.ack_packet(PUBACK, p.pid))
        self.assertEqual(got, list(range(256)))
        slow.close()

    def test_client_that_never_reads_its_acks_is_cut_at_the_hard_cap(self):
        slow = raw_small_rcvbuf(self.d.port, V311)
        slow.connect("never-reads-acks")
        slow.subscribe(("flood/#", 0), expect=[0])
        flood = self.client(self.d.port, V5, "flooder")
        for _ in range(16):
            flood.send(b"".join(flood.publish_packet("flood/x", b"F" * 16384) for _ in range(64)))
        self.still_serving()
        # Output is at its soft cap and the socket buffers are full: every
        # PINGRESP now queues in memory, until the hard cap cuts the client.
        pings = bytes([PINGREQ << 4, 0]) * 200000
        try:
            slow.sock.settimeout(60)
            slow.sock.sendall(pings)
        except OSError:
            pass  # cut while we were sending: that is the point
        wait_for(lambda: "queued and not read; disconnecting" in self.d.output(), 60, "the hard cap")
        wait_for(lambda: metrics(self.d)["tributary_connections"] <= 3, 60, "the slow client to go")
        slow.close()
        self.still_serving()
        self.assert_rss_below(self.rss0 + 96 * MiB, "after the hard cap")


class RateLimit(MqttTest):
    def test_v311_publisher_over_the_rate_is_slowed_not_cut(self):
        rate, n = 20, 100
        d = self.daemon('[[stream]]\nname = "s"\nsubjects = ["s/#"]\n[limits]\nmax_publish_rate = %d\n' % rate)
        d.start()
        sub = self.client(d.port, V5, "rate-sub")
        sub.subscribe(("s/#", 1), expect=[1])
        c = self.client(d.port, V311, "fast-311")
        t0 = time.monotonic()
        c.send(b"".join(c.publish_packet("s/r", b"r%d" % i, qos=1, pid=i + 1) for i in range(n)))
        acks = [c.expect(PUBACK, 60) for _ in range(n)]
        elapsed = time.monotonic() - t0
        self.assertEqual([a.pid for a in acks], list(range(1, n + 1)))
        # A one-second burst of `rate`, then `rate` per second: the last ack
        # cannot come sooner than this (a lower bound holds under any load).
        self.assertGreaterEqual(elapsed, (n - rate) / rate * 0.8)
        self.assertTrue(c.is_open(0.2), "3.1.1 publishers are slowed, not disconnected")
        got = [m.payload for m in sub.messages(n, timeout=60)]
        self.assertEqual(got, [b"r%d" % i for i in range(n)])
        self.assertGreater(metrics(d)["tributary_rate_limited_total"], 0)
        print("%d messages at max_publish_rate=%d took %.1f s" % (n, rate, elapsed))


if __name__ == "__main__":
    unittest.main(verbosity=2)
