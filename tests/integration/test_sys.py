"""$SYS/ topics: the broker's figures as retained messages every
mqtt.sys_interval, only to clients the ACL lets read them; `#` does not
match them; clients cannot publish into $SYS."""
import os
import tempfile
import time
import unittest

from harness import BIN_DIR, MqttTest, PUBLISH, run

STREAM = '[[stream]]\nname = "telemetry"\nsubjects = ["sensors/#"]\npartitions = 2\n'
FAST = '[mqtt]\nsys_interval = "1s"\n'


def latest(client, wanted, timeout=15):
    """Reads PUBLISHes until every topic in `wanted` was seen; returns topic -> payload (last)."""
    seen = {}
    deadline = time.monotonic() + timeout
    while not all(t in seen for t in wanted):
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("missing %r; got %r" % ([t for t in wanted if t not in seen], sorted(seen)))
        p = client.expect(PUBLISH, left)
        seen[p.topic] = p.payload.decode()
    return seen


class SysTopics(MqttTest):
    def test_figures_arrive_retained_and_follow_traffic(self):
        d = self.daemon(STREAM + FAST).start()
        pub = self.client(d.port, 5, "pub")
        for i in range(7):
            pub.publish("sensors/a", b"x%d" % i, qos=1)
        # Subscribing after the first round: the retained copies arrive at once.
        time.sleep(1.5)
        sub = self.client(d.port, 5, "sys-reader")
        sub.subscribe(("$SYS/broker/#", 0))
        got = latest(sub, ["$SYS/broker/version", "$SYS/broker/uptime", "$SYS/broker/clients/connected",
                           "$SYS/broker/messages/received", "$SYS/broker/storage/budget_bytes",
                           "$SYS/broker/streams/telemetry/messages/received"])
        self.assertTrue(got["$SYS/broker/version"].startswith("tributaryd "), got)
        self.assertTrue(got["$SYS/broker/uptime"].endswith(" seconds"), got)
        self.assertEqual(got["$SYS/broker/streams/telemetry/messages/received"], "7")
        self.assertGreater(int(got["$SYS/broker/storage/budget_bytes"]), 0)
        # Live updates: more traffic shows up in a later round.
        for i in range(3):
            pub.publish("sensors/b", b"y%d" % i, qos=1)
        deadline = time.monotonic() + 15
        value = None
        while value != "10" and time.monotonic() < deadline:
            p = sub.expect(PUBLISH, max(0.1, deadline - time.monotonic()))
            if p.topic == "$SYS/broker/streams/telemetry/messages/received":
                value = p.payload.decode()
        self.assertEqual(value, "10")

    def test_hash_does_not_match_sys_and_clients_cannot_publish_there(self):
        d = self.daemon(STREAM + FAST).start()
        everything = self.client(d.port, 5, "everything")
        everything.subscribe(("#", 0))
        c = self.client(d.port, 5, "intruder")
        ack = c.publish("$SYS/broker/version", b"fake", qos=1)
        self.assertEqual(ack.rc, 0x87)
        time.sleep(2.5)  # two rounds of $SYS
        everything.no_message(0.5)
        sub = self.client(d.port, 4, "reader")
        sub.subscribe(("$SYS/broker/version", 0))
        p = sub.expect(PUBLISH, 10)
        self.assertNotEqual(p.payload, b"fake")

    def test_acl_decides_who_reads_sys(self):
        acl = tempfile.NamedTemporaryFile("w", suffix=".acl", delete=False)
        self.addCleanup(os.unlink, acl.name)
        acl.write("user ops\ntopic read $SYS/#\n\nuser device\ntopic readwrite sensors/#\n")
        acl.close()
        pw = tempfile.NamedTemporaryFile("w", suffix=".pw", delete=False)
        self.addCleanup(os.unlink, pw.name)
        pw.close()
        os.unlink(pw.name)
        for user in ("ops", "device"):
            r = run([os.path.join(BIN_DIR, "tributary"), "passwd", "-b", pw.name, user], input=user + "-pw\n")
            self.assertEqual(r.returncode, 0, r.stderr)
        d = self.daemon(STREAM + FAST + '[auth]\npassword_file = "%s"\nacl_file = "%s"\n' % (pw.name, acl.name)).start()
        ops = self.client(d.port, 5, "ops-1", username="ops", password="ops-pw")
        ops.subscribe(("$SYS/broker/uptime", 0))
        ops.expect(PUBLISH, 10)
        dev = self.client(d.port, 5, "dev-1", username="device", password="device-pw")
        dev.subscribe(("$SYS/broker/uptime", 0), expect=[0x87])
        dev.no_message(2.5)

    def test_zero_interval_disables(self):
        d = self.daemon(STREAM + '[mqtt]\nsys_interval = "0s"\n').start()
        sub = self.client(d.port, 5, "s")
        sub.subscribe(("$SYS/#", 0))
        sub.no_message(2.0)


if __name__ == "__main__":
    unittest.main()
