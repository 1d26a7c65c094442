"""The `tributary` tool against a running daemon, and its errors when the
daemon is not running."""
import json
import os
import unittest

from harness import BIN_DIR, DaemonTest, Mosquitto, raw, run, wait_for

TOOL = os.path.join(BIN_DIR, "tributary")


class Tool(DaemonTest):
    def test_status_streams_clients(self):
        d = self.daemon('[[stream]]\nname = "telemetry"\nsubjects = ["sensors/#"]\npartitions = 3\n').start()
        for i in range(4):
            run(["mosquitto_pub", "-p", str(d.port), "-t", "sensors/%d" % i, "-m", "x", "-q", "1"])
        admin = d.addresses["admin"]
        r = run([TOOL, "--admin", admin, "status"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("telemetry", r.stdout)
        self.assertRegex(r.stdout, r"telemetry\s+3\s+4\s+4")
        r = run([TOOL, "--admin", admin, "--json", "streams"])
        self.assertEqual(r.returncode, 0, r.stderr)
        streams = json.loads(r.stdout)
        self.assertEqual(sum(p["end_offset"] for p in streams[0]["partitions"]), 4)
        r = run([TOOL, "--config", d.config_path(), "--admin", admin, "clients"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("CLIENT", r.stdout)

    def test_tail_and_export(self):
        d = self.daemon('[[stream]]\nname = "telemetry"\nsubjects = ["sensors/#"]\n').start()
        for i in range(5):
            run(["mosquitto_pub", "-p", str(d.port), "-t", "sensors/a", "-m", "v%d" % i, "-q", "1"])
        common = [TOOL, "--admin", d.addresses["admin"], "--broker", "127.0.0.1:%d" % d.port]
        r = run(common + ["--json", "tail", "telemetry", "--from", "2"])
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = [json.loads(l) for l in r.stdout.splitlines()]
        self.assertEqual([(l["offset"], l["payload"], l["topic"]) for l in lines],
                         [(2, "v2", "sensors/a"), (3, "v3", "sensors/a"), (4, "v4", "sensors/a")])
        self.assertEqual(lines[0]["stream"], "telemetry")
        r = run(common + ["export", "telemetry", "--from", "earliest", "--to", "3"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual([json.loads(l)["payload"] for l in r.stdout.splitlines()], ["v0", "v1", "v2"])
        r = run(common + ["tail", "telemetry", "--from", "bogus"])
        self.assertEqual(r.returncode, 2)
        self.assertIn("refused the replay position", r.stderr)

    def test_lag_and_status_show_exporters(self):
        up = Mosquitto().start()
        self.addCleanup(up.cleanup)
        d = self.daemon('[[stream]]\nname = "telemetry"\nsubjects = ["sensors/#"]\npartitions = 2\n'
                        '[[exporter]]\nname = "up"\nkind = "mqtt"\nstreams = ["telemetry"]\n'
                        'url = "mqtt://127.0.0.1:%d"\n' % up.port).start()
        admin = d.addresses["admin"]

        def lag_rows():
            r = run([TOOL, "--admin", admin, "--json", "lag"])
            self.assertEqual(r.returncode, 0, r.stderr)
            return json.loads(r.stdout)

        for i in range(4):
            run(["mosquitto_pub", "-p", str(d.port), "-t", "sensors/%d" % i, "-m", "x", "-q", "1"])
        wait_for(lambda: sum(r["lag_records"] for r in lag_rows()) == 0 and
                 sum(r["end_offset"] for r in lag_rows()) == 4, 30, "exporter caught up")
        # Upstream gone: what is published now waits, and lag says how much.
        up.stop()
        for i in range(3):
            run(["mosquitto_pub", "-p", str(d.port), "-t", "sensors/%d" % i, "-m", "y", "-q", "1"])
        wait_for(lambda: sum(r["lag_records"] for r in lag_rows()) == 3, 30, "lag of 3 records")
        rows = lag_rows()
        self.assertEqual(sorted((r["consumer"], r["stream"], r["partition"]) for r in rows),
                         [("exporter/up", "telemetry", 0), ("exporter/up", "telemetry", 1)])
        r = run([TOOL, "--admin", admin, "lag"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"exporter/up\s+\S+\s+telemetry\s+0")
        r = run([TOOL, "--admin", admin, "status"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"up\s+mqtt\s+\S+\s+3\s")

    def test_lag_shows_consumer_groups(self):
        d = self.daemon('[[stream]]\nname = "telemetry"\nsubjects = ["sensors/#"]\n').start()
        member = raw(d.port, 5, "member-1")
        self.addCleanup(member.close)
        member.subscribe(("$share/g1/sensors/#", 1))
        for i in range(3):
            run(["mosquitto_pub", "-p", str(d.port), "-t", "sensors/a", "-m", "v%d" % i, "-q", "1"])
        member.messages(3, timeout=10, ack=False)  # delivered, not acknowledged: the cursor stays
        r = run([TOOL, "--admin", d.addresses["admin"], "--json", "lag"])
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = [x for x in json.loads(r.stdout) if x["consumer"] == "group/g1/sensors/#"]
        self.assertEqual([(x["stream"], x["partition"], x["cursor"], x["end_offset"], x["lag_records"]) for x in rows],
                         [("telemetry", 0, 0, 3, 3)])
        r = run([TOOL, "--admin", d.addresses["admin"], "lag"])
        self.assertRegex(r.stdout, r"group/g1/sensors/#\s+owned\s+telemetry\s+0\s+0\s+3\s+3\s+-")

    def test_daemon_not_running(self):
        r = run([TOOL, "--admin", "127.0.0.1:1", "status"])
        self.assertEqual(r.returncode, 1)
        self.assertIn("not running", r.stderr)

    def test_check_config(self):
        d = self.daemon('[[stream]]\nname = "t"\nsubjects = []\n')
        d.write_config()
        r = run([TOOL, "check-config", d.config_path()])
        self.assertEqual(r.returncode, 2)
        self.assertIn("stream[0].subjects", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
