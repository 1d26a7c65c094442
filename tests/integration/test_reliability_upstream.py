"""Upstream chaos: an edge tributaryd ships a stream to a real Mosquitto with
its `mqtt` exporter while a publisher keeps publishing QoS 1 to the edge, and
the upstream

- flaps (stopped and started again, several times),
- stalls without closing (SIGSTOP, then SIGCONT, of the Mosquitto we run),
- refuses (nothing listening on its port for a while).

Afterwards every message the edge acknowledged has arrived upstream
(duplicates are allowed for this kind, and counted), the exporter's lag is
back to zero, and the daemon's memory stayed flat (RSS sampled throughout).

The upstream Mosquitto saves its sessions on a clean stop, so its own
subscriber (the collector) loses nothing across a flap: what is measured is
the exporter. Before each stop the collector stops reading for a moment, so
that the stop always catches messages Mosquitto accepted from the exporter
and has not delivered yet; the collector's session must come back after every
restart (MqttCounter.sessions_lost), or the check would measure Mosquitto."""
import os
import random
import signal
import threading
import time
import unittest

from harness import PUBACK, Closed, DaemonTest, MqttCounter, PersistentMosquitto, RawClient, wait_for
from reliability import EnvDaemon, http_get, metrics, quiet_asan_env, rss_kib, storage_config

import json

SEED = int(os.environ.get("TRIB_UPSTREAM_SEED", str(int(time.time() * 1000) % 1000000)))


class SteadyPublisher(threading.Thread):
    """QoS 1 publisher to the edge, about `rate` messages/s, one at a time;
    reconnects if needed. acked: payloads whose PUBACK arrived."""

    def __init__(self, port, rate=150):
        super().__init__(daemon=True)
        self.port, self.rate = port, rate
        self.acked = []
        self.halt = threading.Event()
        self.n = 0

    def run(self):
        while not self.halt.is_set():
            c = None
            try:
                c = RawClient(self.port, 5, timeout=10)
                c.connect("steady-pub")
                while not self.halt.is_set():
                    p = b"m%d" % self.n
                    self.n += 1
                    # One topic per message: Mosquitto's log names topics,
                    # not payloads, so a missing message can be traced.
                    ack = c.publish("sensors/t/%s" % p.decode(), p, qos=1)
                    if ack.rc == 0:
                        self.acked.append(p)
                    time.sleep(1.0 / self.rate)
            except (OSError, Closed, AssertionError):
                time.sleep(0.1)
            finally:
                if c:
                    c.close()


class UpstreamChaos(DaemonTest):
    def exporters(self, d):
        status, text = http_get(d, "/v1/exporters")
        self.assertEqual(status, 200)
        return json.loads(text)

    def trace(self, up, missing):
        """What Mosquitto's log says about the first missing messages; its
        directory is kept for a look afterwards."""
        up.keep = True
        path = os.path.join(up.workdir, "mosquitto.log")
        print("mosquitto log kept: %s" % path)
        with open(path, errors="replace") as f:
            lines = f.read().splitlines()
        for p in missing[:3] + missing[-2:]:
            needle = "/sensors/t/%s'" % p.decode()
            hits = [l for l in lines if needle in l]
            print("%s: %d log lines" % (p.decode(), len(hits)))
            for l in hits:
                print("   " + l)

    def test_flapping_stalled_and_refusing_upstream(self):
        print("upstream chaos seed %d (TRIB_UPSTREAM_SEED=%d replays it)" % (SEED, SEED))
        rng = random.Random(SEED)
        up = PersistentMosquitto(extra_conf="log_type all\nlog_timestamp_format %H:%M:%S\n")
        up.start()
        self.addCleanup(up.cleanup)
        collector = MqttCounter(up.port, "site/#", client_id="collector")
        collector.start()
        self.addCleanup(collector.stop)
        edge = EnvDaemon(env=quiet_asan_env(), port=0)
        self.daemons.append(edge)
        edge.config_text = (storage_config(edge.data_dir, "always") +
                            '[[stream]]\nname = "telemetry"\nsubjects = ["sensors/#"]\n'
                            '[[exporter]]\nname = "up"\nkind = "mqtt"\nstreams = ["telemetry"]\n'
                            'url = "mqtt://127.0.0.1:%d"\ntopic_prefix = "site/{node_id}/"\n' % up.port)
        edge.start()
        pub = SteadyPublisher(edge.port)
        pub.start()
        self.addCleanup(pub.halt.set)
        wait_for(lambda: collector.unique() >= 200, 60, "the exporter to ship")
        rss = [rss_kib(edge.proc.pid)]
        print("warm: RSS %d KiB" % rss[0])

        # Flap: clean stops and starts. Each start waits for the exporter to
        # come back before the next stop, so every flap is a link loss the
        # exporter sees (back-off alone could span several short flaps), and
        # for the collector too, so that every stop finds it connected with
        # records on their way to it.
        for i in range(5):
            before, seen = self.exporters(edge)[0]["reconnects"], collector.connects
            print("%s flap %d: stop at m%d" % (time.strftime("%H:%M:%S"), i + 1, pub.n))
            collector.paused.set()
            time.sleep(0.5)
            up.stop()
            collector.paused.clear()
            time.sleep(rng.uniform(0.3, 2.0))
            up.start()
            wait_for(lambda: self.exporters(edge)[0]["reconnects"] > before and
                     collector.connects > seen and collector.online, 60,
                     "the exporter and the collector to reconnect after flap %d" % (i + 1))
            time.sleep(rng.uniform(0.2, 1.5))
            rss.append(rss_kib(edge.proc.pid))
        # Stall without closing: the TCP connection stays up, nothing answers.
        os.kill(up.proc.pid, signal.SIGSTOP)
        try:
            time.sleep(rng.uniform(4, 8))
            rss.append(rss_kib(edge.proc.pid))
        finally:
            os.kill(up.proc.pid, signal.SIGCONT)
        time.sleep(2)
        wait_for(lambda: collector.online, 60, "the collector online before the refuse phase")
        # Refuse: nothing listens on the port.
        up.stop()
        time.sleep(rng.uniform(3, 6))
        rss.append(rss_kib(edge.proc.pid))
        up.start()
        time.sleep(2)
        pub.halt.set()
        pub.join(30)
        acked = set(pub.acked)
        self.assertGreater(len(acked), 1000)

        def all_there():
            with collector.lock:
                return acked <= set(collector.counts)
        try:
            wait_for(all_there, 180, "every acknowledged message upstream")
        finally:
            with collector.lock:
                missing = sorted(acked - set(collector.counts), key=lambda p: int(p[1:]))
            if missing:
                print("missing upstream: %d, first %r" % (len(missing), missing[:10]))
                self.trace(up, missing)
        wait_for(lambda: self.exporters(edge)[0]["partitions"][0]["lag_records"] == 0, 60, "lag back to zero")
        rss.append(rss_kib(edge.proc.pid))
        ex = self.exporters(edge)[0]
        with collector.lock:
            dups = collector.total - len(collector.counts)
        print("published %d (acked %d), upstream %d unique + %d duplicates, exporter reconnects %d"
              % (pub.n, len(acked), collector.unique(), dups, ex["reconnects"]))
        print("edge RSS (KiB) over the run: %s" % " ".join(str(r) for r in rss))
        self.assertGreaterEqual(ex["reconnects"], 5)
        self.assertEqual(collector.sessions_lost, 0, "Mosquitto lost the collector's session")
        # Flat: the backlog waits in the log, not in memory.
        self.assertLess(max(rss) - rss[0], 48 * 1024, "edge memory grew with the outages")
        self.assertEqual(metrics(edge)["tributary_storage_corrupt_batches_total"], 0)
        self.assertEqual(edge.stop(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
