"""SIGHUP with a changed file: limits, stream retention and exporters change
while running; the log says what changed and what waits for a restart."""
import json
import signal
import time
import unittest
import urllib.request

from harness import MqttCounter, MqttTest, Mosquitto, wait_for

STREAM = '[[stream]]\nname = "telemetry"\nsubjects = ["sensors/#"]\n'


def v1(d, what):
    with urllib.request.urlopen("http://%s/v1/%s" % (d.addresses["admin"], what), timeout=10) as r:
        return json.loads(r.read())


class Reload(MqttTest):
    def reload(self, d, text, expect):
        d.config_text = text
        d.write_config()
        mark = len(d.output())
        d.signal(signal.SIGHUP)
        wait_for(lambda: expect in d.output()[mark:], 15, "reload logging %r" % expect)
        return d.output()[mark:]

    def test_limits_change_for_new_work_and_keep_connack_promises(self):
        d = self.daemon(STREAM).start()
        old = self.client(d.port, 5, "old")  # promised max_inflight 64 in its CONNACK
        self.reload(d, STREAM + '[limits]\nmax_topic_length = 16\nmax_inflight = 2\n',
                    "limits.max_topic_length 1024 -> 16")
        # A topic longer than the new limit is refused (0x90 Topic Name invalid).
        c = self.rawsock(d.port, 5)
        self.assertEqual(c.connect("new").props.get("receive_maximum"), 2)
        c.send(c.publish_packet("sensors/" + "x" * 20, b"p", qos=1, pid=1))
        c.expect_close()
        # The connection made before keeps the receive maximum it was promised.
        for i in range(3):
            old.send(old.publish_packet("sensors/a", b"m%d" % i, qos=1, pid=i + 1))
        for i in range(3):
            old.expect(4)  # PUBACK

    def test_retention_change_applies_without_restart(self):
        # Kept for an hour at first (the monotonic age guard then keeps its
        # checkpoints ~7 s apart), then cut to one second.
        d = self.daemon(STREAM + 'max_age = "1h"\n').start()
        c = self.client(d.port, 5, "p")
        for i in range(20):
            c.publish("sensors/a", b"r%d" % i, qos=1)
        self.assertEqual(v1(d, "streams")[0]["partitions"][0]["start_offset"], 0)
        time.sleep(1.2)  # the records are now older than the new limit
        out = self.reload(d, STREAM + 'max_age = "1s"\n', "stream telemetry retention")
        self.assertNotIn("wait for a restart", out)
        wait_for(lambda: v1(d, "streams")[0]["partitions"][0]["start_offset"] == 20, 30,
                 "retention to delete the old records")

    def test_shape_changes_are_reported_as_needing_a_restart(self):
        d = self.daemon(STREAM).start()
        out = self.reload(d, STREAM.replace('subjects = ["sensors/#"]', 'subjects = ["sensors/#"]\npartitions = 4') +
                          '[[stream]]\nname = "other"\nsubjects = ["other/#"]\n', "wait for a restart")
        self.assertIn("new stream other", out)
        self.assertIn("stream telemetry (subjects, partitions, key or compression)", out)
        self.assertEqual(len(v1(d, "streams")), 1)

    def test_exporters_start_restart_and_stop_on_reload(self):
        a, b = Mosquitto().start(), Mosquitto().start()
        self.addCleanup(a.cleanup)
        self.addCleanup(b.cleanup)
        ca, cb = MqttCounter(a.port, "#").start(), MqttCounter(b.port, "#").start()
        self.addCleanup(ca.stop)
        self.addCleanup(cb.stop)

        def exporter(port, name="up"):
            return ('[[exporter]]\nname = "%s"\nkind = "mqtt"\nstreams = ["telemetry"]\n'
                    'url = "mqtt://127.0.0.1:%d"\n' % (name, port))
        d = self.daemon(STREAM).start()
        pub = self.client(d.port, 5, "pub")
        pub.publish("sensors/a", b"before", qos=1)
        # A new exporter starts from the beginning of the stream.
        self.reload(d, STREAM + exporter(a.port), "starting exporter up")
        wait_for(lambda: ca.unique() == 1, 30, "backlog shipped to a")
        # Its upstream changes: it restarts from its committed cursor.
        self.reload(d, STREAM + exporter(b.port), "restarting exporter up")
        wait_for(lambda: "exporter up stopped for the reload" in d.output(), 30, "old instance stopped")
        pub.publish("sensors/a", b"after", qos=1)
        wait_for(lambda: cb.unique() == 1, 30, "new record shipped to b")
        self.assertEqual(set(cb.counts), {b"after"})  # resumed at the cursor: nothing re-sent
        wait_for(lambda: v1(d, "exporters")[0]["partitions"][0]["cursor"] == 2, 30, "cursor at 2")
        # Removed: it stops; nothing ships any more.
        self.reload(d, STREAM, "stopping exporter up")
        wait_for(lambda: v1(d, "exporters") == [], 30, "exporter gone")
        pub.publish("sensors/a", b"unshipped", qos=1)
        time.sleep(1)
        self.assertEqual(set(cb.counts), {b"after"})


if __name__ == "__main__":
    unittest.main(verbosity=2)
