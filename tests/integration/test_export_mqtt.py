"""The mqtt exporter against a real Mosquitto, driven by bridge_driver (a log in
a temp dir with appended records, one exporter): every record arrives with its
topic rewritten and the origin offset in MQTT 5 user properties; a Mosquitto
outage and a SIGKILL of the exporter lose nothing (duplicates allowed and
counted); a restart resumes from the committed cursor."""
import os
import shutil
import tempfile
import time
import unittest

import harness
from harness import BridgeDriver, MqttCounter, PersistentMosquitto, wait_for


def payload(stream, i):
    return ("%s:%d:" % (stream, i)).encode()


class ExportMqttTest(unittest.TestCase):
    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="export-mqtt-")
        self.drivers, self.brokers, self.counters = [], [], []

    def tearDown(self):
        failed = self._outcome.result.errors + self._outcome.result.failures if hasattr(self._outcome, "result") else []
        for d in self.drivers:
            d.kill()
        for c in self.counters:
            c.stop()
        for b in self.brokers:
            b.cleanup()
        if any(t is self for t, _ in failed):
            for d in self.drivers:
                print("---- bridge_driver stderr ----\n" + d.stderr_text()[-4000:])
                print("---- last status ----\n%r" % d.last)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def broker(self):
        b = PersistentMosquitto()
        self.brokers.append(b)
        return b.start()

    def counter(self, port):
        c = MqttCounter(port, "site/#")
        self.counters.append(c)
        return c.start()

    def driver(self, port, *args, scheme="mqtt"):
        d = BridgeDriver(["--dir", os.path.join(self.workdir, "log"), "--kind", "mqtt",
                          "--url", "%s://127.0.0.1:%d" % (scheme, port), "--node-id", "gw1",
                          "--topic-prefix", "site/{node_id}/", "--status-ms", 100,
                          "--ack-timeout-ms", 5000] + list(args),
                         os.path.join(self.workdir, "driver.log"))
        self.drivers.append(d)
        return d.start()

    def assert_all_arrived(self, counter, stream, n, timeout=60):
        try:
            wait_for(lambda: counter.unique() >= n, timeout, "%d records upstream" % n)
        except AssertionError:
            missing = [i for i in range(n) if not any(k.startswith(payload(stream, i)) for k in counter.counts)][:10]
            raise AssertionError("%d of %d arrived; missing e.g. %r" % (counter.unique(), n, missing))
        got = {int(k.split(b":")[1]) for k in counter.counts}
        self.assertEqual(got, set(range(n)))

    def test_backlog_arrives_with_rewritten_topic_and_origin_properties(self):
        b = self.broker()
        c = self.counter(b.port)
        n = 5000
        d = self.driver(b.port, "--stream", "telemetry:2", "--append", n, "--until-drained",
                        "--content-type", "application/json")
        self.assertEqual(d.wait(120), 0, d.stderr_text()[-2000:])
        self.assert_all_arrived(c, "telemetry", n)
        self.assertEqual(d.last["dups"], 0)
        self.assertEqual(c.total, n)  # no outage: no duplicates either
        key = next(p for p in c.counts if p.startswith(payload("telemetry", 7)))
        self.assertEqual(c.topics[key], "site/gw1/sensors/dev-7")
        props = c.props[key]
        user = dict(props.get("user", []))
        self.assertEqual(user["tributary-origin"], "gw1")
        self.assertEqual(user["tributary-stream"], "telemetry")
        self.assertEqual(user["tributary-partition"], "1")  # record 7 went to partition 7 % 2
        self.assertEqual(user["tributary-offset"], "3")     # the 4th record of partition 1
        self.assertEqual(user["device-class"], "sensor")    # stored properties pass through
        self.assertEqual(props.get("content_type"), "application/json")
        drained = d.find("drained")
        print("mqtt drain: %d records in %d ms (%s records/s)" % (drained["drained"], drained["ms"], drained["rate"]))

    def test_window_follows_the_upstream_receive_maximum(self):
        """MQTT 5 flow control: Mosquitto announces Receive Maximum 4
        (max_inflight_messages) in its CONNACK, and the exporter keeps at most
        4 records in flight (its own window is 256)."""
        b = PersistentMosquitto(extra_conf="max_inflight_messages 4\n")
        self.brokers.append(b)
        b.start()
        c = self.counter(b.port)
        n = 20000
        d = self.driver(b.port, "--stream", "telemetry:1", "--append", n, "--until-drained")
        self.assertEqual(d.wait(120), 0, d.stderr_text()[-2000:])
        self.assert_all_arrived(c, "telemetry", n)
        inflight = [j["inflight"] for j in d.lines if "inflight" in j]
        self.assertGreater(len(inflight), 3, "too few status lines to judge")
        self.assertGreater(max(inflight), 0)
        self.assertLessEqual(max(inflight), 4, "in flight: %r" % inflight)

    def test_outage_and_exporter_kill_lose_nothing(self):
        b = self.broker()
        c = self.counter(b.port)
        n = 30000
        # Paced (~110 bytes per record at 800 KB/s: ~4 s) so the faults land mid-stream.
        d = self.driver(b.port, "--stream", "telemetry:3", "--append", n, "--rate", 800000)
        wait_for(lambda: c.unique() > 5000, 60, "first records upstream")
        b.stop()  # Mosquitto goes away mid-stream
        d.wait_status(lambda s: s.get("state") in ("backoff", "connecting"), 20, "exporter noticing the outage")
        time.sleep(1.0)
        b.start()
        d.wait_status(lambda s: s.get("state") == "connected" and s.get("reconnects", 0) >= 1, 30, "reconnect")
        wait_for(lambda: c.unique() > 15000, 60, "more records after the outage")
        self.assertLess(c.unique(), n, "the kill must land mid-stream")
        d.kill()  # SIGKILL: no final cursor commit
        first = d.last
        self.assertGreaterEqual(first["dups"], 0)
        d2 = self.driver(b.port, "--stream", "telemetry:3", "--until-drained")
        self.assertEqual(d2.wait(120), 0, d2.stderr_text()[-2000:])
        self.assert_all_arrived(c, "telemetry", n)
        # The restart resumed from the committed cursor instead of starting over.
        self.assertLess(d2.last["sent"], n - 10000)
        resent = c.total - n
        print("mqtt outage+kill: %d records, %d delivered more than once; exporter counted %d possible "
              "duplicates before the kill, restart sent %d" % (n, resent, first["dups"], d2.last["sent"]))

    def test_exporter_waits_for_broker_and_ships_live_records_311(self):
        port = harness.free_port()
        d = self.driver(port, "--stream", "telemetry:1", "--append", 100, "--live", 2000,
                        "--live-rate", 2000, "--mqtt-version", 3, "--until-drained")
        d.wait_status(lambda s: s.get("state") in ("backoff", "connecting") and s.get("last_error"), 20,
                      "connect failures while no broker listens")
        self.assertIn("connect", d.last["last_error"])
        b = PersistentMosquitto(port=port)
        self.brokers.append(b)
        b.start()
        c = self.counter(port)  # may miss what was published before it subscribed: check later ones
        self.assertEqual(d.wait(120), 0, d.stderr_text()[-2000:])
        got = {int(k.split(b":")[1]) for k in c.counts}
        self.assertTrue(set(range(1500, 2100)) <= got, "live records missing")
        self.assertEqual(d.last["lag"], 0)


    def make_certs(self):
        """A CA and a server certificate for 127.0.0.1, made with the openssl CLI."""
        d = os.path.join(self.workdir, "certs")
        os.makedirs(d)
        run = lambda *a: harness.run(list(a), cwd=d, timeout=60)
        for cmd in (["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                     "-subj", "/CN=test-ca", "-keyout", "ca.key", "-out", "ca.crt"],
                    ["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
                     "-keyout", "server.key", "-out", "server.csr"]):
            r = run(*cmd)
            self.assertEqual(r.returncode, 0, r.stderr)
        with open(os.path.join(d, "ext.cnf"), "w") as f:
            f.write("subjectAltName=IP:127.0.0.1\n")
        r = run("openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "2", "-extfile", "ext.cnf", "-out", "server.crt")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                "-subj", "/CN=other-ca", "-keyout", "other.key", "-out", "other.crt")
        self.assertEqual(r.returncode, 0, r.stderr)
        return d

    def test_tls_verifies_the_upstream(self):
        certs = self.make_certs()
        plain = harness.free_port()
        tls = harness.free_port()
        b = PersistentMosquitto(port=plain, extra_conf="listener %d 127.0.0.1\ncafile %s/ca.crt\n"
                                "certfile %s/server.crt\nkeyfile %s/server.key\n" % (tls, certs, certs, certs))
        self.brokers.append(b)
        b.start()
        c = self.counter(plain)
        n = 2000
        # A certificate from another CA is refused: nothing is shipped.
        bad = BridgeDriver(["--dir", os.path.join(self.workdir, "log-bad"), "--kind", "mqtt",
                            "--url", "mqtts://127.0.0.1:%d" % tls, "--ca", os.path.join(certs, "other.crt"),
                            "--stream", "telemetry:1", "--append", 10, "--status-ms", 100],
                           os.path.join(self.workdir, "driver-bad.log"))
        self.drivers.append(bad)
        bad.start()
        bad.wait_status(lambda s: s.get("state") == "backoff" and s.get("last_error"), 30, "TLS refusal")
        self.assertEqual(bad.last["acked"], 0)
        self.assertIn("connect", bad.last["last_error"])
        bad.kill()
        d = self.driver(tls, "--stream", "telemetry:2", "--append", n, "--until-drained",
                        "--ca", os.path.join(certs, "ca.crt"), scheme="mqtts")
        self.assertEqual(d.wait(120), 0, d.stderr_text()[-2000:])
        self.assert_all_arrived(c, "telemetry", n)


if __name__ == "__main__":
    unittest.main(verbosity=2)
