"""Log shipping from the real daemon: an edge tributaryd with an `mqtt`
exporter to a real Mosquitto. Publish QoS 1 to the edge; stop Mosquitto for a
while and keep publishing; start it again; SIGKILL the edge daemon while it
drains the backlog, restart it: a subscriber on Mosquitto receives every
message the edge acknowledged (duplicates allowed for this kind, and counted)."""
import json
import os
import shutil
import signal
import subprocess
import threading
import time
import unittest
import urllib.request

import paho.mqtt.client as paho

from harness import TRIBUTARYD, DaemonTest, Mosquitto, wait_for


class Collector:
    """A persistent QoS 1 subscriber on the upstream Mosquitto."""

    def __init__(self, port, topic):
        self.got = []
        self.lock = threading.Lock()
        self.c = paho.Client(client_id="collector", clean_session=False, protocol=paho.MQTTv311)
        self.c.on_connect = lambda c, u, f, rc: c.subscribe(topic, 1)
        self.c.on_message = self.on_message
        self.c.reconnect_delay_set(0.1, 1)
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()

    def on_message(self, c, u, msg):
        with self.lock:
            self.got.append(msg.payload.decode())

    def payloads(self):
        with self.lock:
            return list(self.got)

    def stop(self):
        self.c.loop_stop()
        self.c.disconnect()


def publish_acked(port, payloads):
    """Publishes QoS 1 to the edge; returns the payloads whose PUBACK arrived."""
    acked = []
    c = paho.Client(client_id="edge-pub-%d" % port, protocol=paho.MQTTv311)
    try:
        c.connect("127.0.0.1", port)
        c.loop_start()
        for p in payloads:
            info = c.publish("sensors/t", p, qos=1)
            info.wait_for_publish(10)
            if info.is_published():
                acked.append(p)
    except (OSError, RuntimeError, ValueError):
        pass
    finally:
        c.loop_stop()
        try:
            c.disconnect()
        except Exception:
            pass
    return acked


class ExportToMosquitto(DaemonTest):
    def test_missing_exporter_module_is_a_clear_start_error(self):
        """The exporter kinds are modules next to the executable
        (../lib/tributary); a daemon that cannot load one refuses to start and
        says which file and why, instead of running without its exporter."""
        d = self.daemon('[[stream]]\nname = "telemetry"\nsubjects = ["sensors/#"]\n'
                        '[[exporter]]\nname = "up"\nkind = "kafka"\nbrokers = "127.0.0.1:9"\n'
                        'streams = ["telemetry"]\n')
        d.write_config()
        alone = os.path.join(d.workdir, "bin", "tributaryd")  # no lib/tributary next to it
        os.makedirs(os.path.dirname(alone))
        shutil.copy(TRIBUTARYD, alone)
        p = subprocess.run([alone, "--config", d.config_path()], capture_output=True, text=True, timeout=60)
        self.assertNotEqual(p.returncode, 0)
        want = "exporter up: cannot load %s/lib/tributary/tributary-kafka.so" % d.workdir
        self.assertIn(want, p.stdout + p.stderr)
        # The same configuration starts with the modules in place.
        d.start()
        self.assertIn("exporter up (kafka) started", d.output())

    def test_outage_and_crash_lose_nothing_acknowledged(self):
        # A persistent upstream, so the collector's session and its queued
        # messages survive the upstream's own restart.
        up = Mosquitto()
        up.extra_conf = ("persistence true\npersistence_location %s/\nuser root\n"
                         "max_queued_messages 1000000\n" % up.workdir)
        up.start()
        self.addCleanup(up.cleanup)
        collector = Collector(up.port, "site/#")
        self.addCleanup(collector.stop)
        edge = self.daemon(
            '[storage]\ndir = "%s"\nsync = "always"\n'
            '[[stream]]\nname = "telemetry"\nsubjects = ["sensors/#"]\n'
            '[[exporter]]\nname = "up"\nkind = "mqtt"\nstreams = ["telemetry"]\n'
            'url = "mqtt://127.0.0.1:%d"\ntopic_prefix = "site/{node_id}/"\n'
            % ("%DATA%", up.port))
        edge.config_text = edge.config_text.replace("%DATA%", edge.data_dir)
        edge.start()
        acked = publish_acked(edge.port, ["m%d" % i for i in range(0, 100)])
        up.stop()  # the upstream goes away; the edge keeps accepting
        acked += publish_acked(edge.port, ["m%d" % i for i in range(100, 300)])
        time.sleep(1)
        up.start()
        time.sleep(0.3)  # the exporter reconnects and drains ...
        edge.kill()      # ... and dies mid-drain
        edge.start()
        acked += publish_acked(edge.port, ["m%d" % i for i in range(300, 400)])
        self.assertGreaterEqual(len(acked), 380, "the edge should acknowledge nearly everything")

        def all_there():
            return set(acked) <= set(collector.payloads())
        try:
            wait_for(all_there, 60, "every acknowledged message upstream")
        finally:
            missing = sorted(set(acked) - set(collector.payloads()), key=lambda s: int(s[1:]))
            if missing:
                print("missing upstream:", missing[:20], "... of", len(missing))
        got = collector.payloads()
        dups = len(got) - len(set(got))
        print("delivered %d, unique %d, duplicates %d" % (len(got), len(set(got)), dups))
        with urllib.request.urlopen("http://%s/v1/exporters" % edge.addresses["admin"], timeout=10) as r:
            status = json.loads(r.read())
        self.assertEqual(status[0]["name"], "up")
        wait_for(lambda: json.loads(urllib.request.urlopen(
            "http://%s/v1/exporters" % edge.addresses["admin"], timeout=10).read())[0]["partitions"][0]["lag_records"] == 0,
            30, "lag back to zero")


if __name__ == "__main__":
    unittest.main(verbosity=2)
