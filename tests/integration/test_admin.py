"""The admin HTTP API against the real daemon: /metrics scraped and checked by
promtool, health and readiness, JSON views, and the bearer token."""
import json
import shutil
import subprocess
import unittest
import urllib.error
import urllib.request

from harness import PUBLISH, DaemonTest, RawClient, run, wait_for

STREAM = '[[stream]]\nname = "telemetry"\nsubjects = ["sensors/#"]\npartitions = 2\n'


def get(d, path, token=None):
    req = urllib.request.Request("http://%s%s" % (d.addresses["admin"], path))
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def clients(d):
    status, text = get(d, "/v1/clients")
    assert status == 200, text
    return {c["client_id"]: c for c in json.loads(text)}


class Admin(DaemonTest):
    def test_connection_buffers_are_given_back_after_a_burst(self):
        """A subscriber that stops reading makes the daemon queue a burst in
        its write buffers (up to max_output_bytes, 4 MiB, past what the
        kernel's socket buffers hold); once it has read everything, the
        connection gives the buffers back within a tick or two: an idle
        connection holds none (buffer_bytes in /v1/clients,
        tributary_connection_buffer_bytes in /metrics)."""
        d = self.daemon().start()
        sub = RawClient(d.port, 5)
        sub.connect("burst-sub")
        sub.subscribe(("burst/#", 0))
        pub = RawClient(d.port, 5)
        pub.connect("burst-pub")
        payload = b"x" * 1000
        for _ in range(10000):  # 10 MB at QoS 0, not read meanwhile
            pub.publish("burst/a", payload)
        pub.publish("burst/end", b"end", qos=1)  # everything before it was routed
        held = clients(d)["burst-sub"]["buffer_bytes"]
        self.assertGreater(held, 64 * 1024, "the burst should be queued in the daemon")
        got = 0
        while True:
            try:
                p = sub.recv(2)
            except AssertionError:
                break  # 2 s of silence: all read
            got += p.type == PUBLISH
        self.assertGreater(got, 1000)
        # Everything read and acknowledged: an idle connection holds no buffers.
        wait_for(lambda: clients(d)["burst-sub"]["buffer_bytes"] == 0, 10,
                 "the subscriber's buffers to be given back (held %d)" % held)
        wait_for(lambda: "\ntributary_connection_buffer_bytes 0\n" in get(d, "/metrics")[1], 10,
                 "no connection to hold buffers")
        sub.close()
        pub.close()
        self.assertEqual(d.stop(), 0)

    def test_metrics_pass_promtool_and_count_messages(self):
        d = self.daemon(STREAM).start()
        for i in range(5):
            r = run(["mosquitto_pub", "-p", str(d.port), "-t", "sensors/a", "-m", "m%d" % i, "-q", "1"])
            self.assertEqual(r.returncode, 0, r.stderr)
        status, text = get(d, "/metrics")
        self.assertEqual(status, 200)
        self.assertIn("tributary_messages_received_total 5", text)
        self.assertIn('tributary_stream_messages_in_total{stream="telemetry"} 5', text)
        self.check_histogram(text, "tributary_storage_commit_duration_seconds", "tributary_storage_commits_total")
        # Large values keep every digit (the default 1 GiB budget, not 1.07374e+09).
        self.assertIn("tributary_storage_budget_bytes 1073741824\n", text)
        promtool = shutil.which("promtool")
        self.assertIsNotNone(promtool, "promtool (Debian package prometheus) is required")
        p = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def check_histogram(self, text, name, counter):
        """Buckets cumulative and rising, +Inf and _count equal to `counter`."""
        buckets = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith(name + "_bucket{")]
        self.assertGreater(len(buckets), 2, name)
        self.assertEqual(buckets, sorted(buckets), "%s buckets must not fall: %s" % (name, buckets))
        values = dict(line.rsplit(" ", 1) for line in text.splitlines()
                      if line and not line.startswith("#") and "{" not in line)
        self.assertEqual(float(values[name + "_count"]), buckets[-1], name)
        self.assertEqual(float(values[name + "_count"]), float(values[counter]), name)

    def test_health_ready_and_json(self):
        d = self.daemon(STREAM).start()
        self.assertEqual(get(d, "/healthz"), (200, "ok\n"))
        self.assertEqual(get(d, "/readyz")[0], 200)
        run(["mosquitto_pub", "-p", str(d.port), "-t", "sensors/x", "-m", "hello", "-q", "1"])
        status, body = get(d, "/v1/streams")
        self.assertEqual(status, 200)
        streams = json.loads(body)
        self.assertEqual(streams[0]["name"], "telemetry")
        self.assertEqual(len(streams[0]["partitions"]), 2)
        self.assertEqual(sum(p["end_offset"] for p in streams[0]["partitions"]), 1)
        status, body = get(d, "/v1/clients")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body), [])
        self.assertEqual(get(d, "/nope")[0], 404)

    def test_clients_show_their_addresses(self):
        """/v1/clients names each client's address and port, IPv4 and IPv6
        (the connection keeps the address compact and formats it on demand)."""
        d = self.daemon(STREAM + '[[listener]]\nbind = "127.0.0.1:0"\n\n[[listener]]\nbind = "[::1]:0"\n').start()
        with open(d.ready_file) as f:
            mqtt = [line.split()[1] for line in f if line.startswith("mqtt ")]
        self.assertEqual(len(mqtt), 2, mqtt)
        v6_port = int(mqtt[1].rsplit(":", 1)[1])
        a = RawClient(d.port, 5)
        a.connect("addr-v4")
        b = RawClient(v6_port, 4, host="::1")
        b.connect("addr-v6")
        got = clients(d)
        self.assertEqual(got["addr-v4"]["peer"], "127.0.0.1:%d" % a.sock.getsockname()[1])
        self.assertEqual(got["addr-v6"]["peer"], "[::1]:%d" % b.sock.getsockname()[1])

    def test_bearer_token(self):
        d = self.daemon(STREAM + '\n[admin]\nbind = "127.0.0.1:0"\ntoken = "s3cret"\n').start()
        self.assertEqual(get(d, "/metrics")[0], 401)
        self.assertEqual(get(d, "/metrics", token="wrong")[0], 401)
        self.assertEqual(get(d, "/metrics", token="s3cret")[0], 200)


if __name__ == "__main__":
    unittest.main(verbosity=2)
