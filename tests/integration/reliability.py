"""Helpers shared by the reliability tests (test_reliability_*.py): a daemon
started with extra environment (the fsync shim), admin API reads, RSS, a
pipelined QoS 1/2 publisher that records exactly which messages were
acknowledged, and a reader that replays a stream from its start with each
record's partition and offset."""
import json
import os
import re
import subprocess
import threading
import time
import urllib.error
import urllib.request

from harness import (BIN_DIR, PUBACK, PUBCOMP, PUBLISH, PUBREC, PUBREL, TRIBUTARYD, Closed, Daemon,
                     RawClient, free_port, wait_for)

SHIM = os.path.join(BIN_DIR, "libtrib_fsync_shim.so")


def asan_runtime(binary=TRIBUTARYD):
    """The AddressSanitizer runtime the binary links, or None. It must come
    first in LD_PRELOAD."""
    try:
        out = subprocess.run(["ldd", binary], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r"(\S*libasan\.so\S*) => (\S+)", out)
    return m.group(2) if m else None


def shim_env(trigger, log_path=None):
    """Environment that makes tributaryd's fsync family obey `trigger`
    (see tests/shim/fsync_shim.c)."""
    preload = [p for p in (asan_runtime(), SHIM) if p]
    env = {"LD_PRELOAD": " ".join(preload), "TRIB_FSYNC_TRIGGER": trigger}
    if log_path:
        env["TRIB_FSYNC_LOG"] = log_path
    return env


class EnvDaemon(Daemon):
    """A Daemon started with extra environment variables, and on a fixed port
    (so clients find it again after a restart) unless port=0."""

    def __init__(self, config="", env=None, port=None, **kw):
        super().__init__(config, **kw)
        self.env = dict(env or {})
        self.fixed_port = free_port() if port is None else port

    def write_config(self):
        if "[[listener]]" not in self.config_text and self.fixed_port:
            self.config_text += '\n[[listener]]\nbind = "127.0.0.1:%d"\n' % self.fixed_port
        super().write_config()

    def start(self, wait=True):
        saved = dict(os.environ)
        os.environ.update(self.env)
        try:
            super().start(wait=False)
        finally:
            os.environ.clear()
            os.environ.update(saved)
        if wait:
            self.wait_ready()
        return self


def storage_config(data_dir, sync="always", extra=""):
    return '[storage]\ndir = "%s"\nsync = "%s"\n%s' % (data_dir, sync, extra)


# -- admin API --------------------------------------------------------------------
def http_get(d, path, timeout=10):
    try:
        with urllib.request.urlopen("http://%s%s" % (d.addresses["admin"], path), timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def metrics(d):
    """Prometheus text -> {'name' or 'name{labels}': float}."""
    status, text = http_get(d, "/metrics")
    if status != 200:
        raise AssertionError("/metrics answered %d" % status)
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        out[key] = float(value)
    return out


def streams(d):
    status, text = http_get(d, "/v1/streams")
    if status != 200:
        raise AssertionError("/v1/streams answered %d" % status)
    return json.loads(text)


def quiet_asan_env():
    """A small ASan quarantine, so that RSS measures the daemon and not the
    freed memory ASan keeps to catch use-after-free (256 MiB by default)."""
    opts = os.environ.get("ASAN_OPTIONS", "")
    return {"ASAN_OPTIONS": (opts + ":" if opts else "") + "quarantine_size_mb=4"}


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for pid %d" % pid)


# -- publishing -------------------------------------------------------------------
class Publisher(threading.Thread):
    """Publishes "<name>-<n>" (n = 0, 1, 2, ...) to `topic` at QoS 1 or 2 with
    up to `window` messages in flight, as fast as the broker acknowledges,
    until stop() is called. When the connection breaks it reconnects (to
    port_fn(), retrying until the broker is back) with a clean session and
    carries on with new numbers; what was in flight is abandoned, never
    resent, so every number is published at most once.

    acked: numbers acknowledged with success: PUBACK for QoS 1, PUBREC for
    QoS 2 (the broker sends PUBREC only once it stored the message: from then
    on the message is the broker's, [MQTT-4.3.3]). rejected: numbers answered
    with a failure code."""

    def __init__(self, name, port_fn, version, qos, topic, window=32, client_id=None, payload_pad=0):
        super().__init__(daemon=True)
        self.name, self.port_fn, self.version, self.qos, self.topic = name, port_fn, version, qos, topic
        self.window = window
        self.client_id = client_id or name
        self.pad = b"." * payload_pad
        self.acked = []
        self.rejected = []
        self.sent = 0
        self.connects = 0
        self.errors = []
        self.lock = threading.Lock()
        self._halt = threading.Event()

    def acked_count(self):
        with self.lock:
            return len(self.acked)

    def stop(self):
        self._halt.set()

    def _connect(self):
        while not self._halt.is_set():
            c = None
            try:
                c = RawClient(self.port_fn(), self.version, timeout=5)
                c.connect(self.client_id, clean=True)
                self.connects += 1
                return c
            except (OSError, Closed, AssertionError):
                if c is not None:
                    c.close()
                time.sleep(0.05)
        return None

    def run(self):
        while not self._halt.is_set():
            c = self._connect()
            if c is None:
                return
            try:
                self._pump(c)
            except (OSError, Closed) as e:
                self.errors.append(repr(e))
            finally:
                c.close()

    def _pump(self, c):
        inflight = {}  # pid -> number, until PUBACK / PUBCOMP (or a failed PUBREC)
        released = set()  # QoS 2 pids after PUBREC, waiting for PUBCOMP
        while not self._halt.is_set():
            out = b""
            while len(inflight) < self.window:
                pid = c.pid()
                while pid in inflight:
                    pid = c.pid()
                inflight[pid] = self.sent
                out += c.publish_packet(self.topic, b"%s-%d%s" % (self.name.encode(), self.sent, self.pad),
                                        qos=self.qos, pid=pid)
                self.sent += 1
            if out:
                c.send(out)
            try:
                p = c.recv(1.0)
            except AssertionError:
                continue  # slow: keep waiting (stop() is checked each second)
            if p.type == PUBACK and p.pid in inflight:
                n = inflight.pop(p.pid)
                with self.lock:
                    (self.acked if p.rc < 0x80 else self.rejected).append(n)
            elif p.type == PUBREC and p.pid in inflight and p.pid not in released:
                n = inflight[p.pid]
                if p.rc >= 0x80:
                    del inflight[p.pid]
                    with self.lock:
                        self.rejected.append(n)
                    continue
                with self.lock:
                    self.acked.append(n)
                released.add(p.pid)
                c.send(c.ack_packet(PUBREL, p.pid))
            elif p.type == PUBCOMP and p.pid in released:
                released.discard(p.pid)
                inflight.pop(p.pid, None)
            elif p.type in (PUBACK, PUBREC, PUBCOMP):
                self.errors.append("unexpected %r" % p)


def total_acked(pubs):
    return sum(p.acked_count() for p in pubs)


# -- reading a stream back ----------------------------------------------------------
def expected_records(d, stream):
    """{partition: (start_offset, end_offset)} of a stream, from /v1/streams."""
    for s in streams(d):
        if s["name"] == stream:
            return {p["partition"]: (p["start_offset"], p["end_offset"]) for p in s["partitions"]}
    raise AssertionError("no stream %r" % stream)


def replay_all(d, stream, topic_filter, timeout=300, client_id="replay-reader"):
    """Every record of `stream` still stored, read over MQTT 5 from the
    earliest offset: a list of (partition, offset, topic, payload) in arrival
    order. Waits until each partition's end offset (from /v1/streams, read
    first) has been reached."""
    want = expected_records(d, stream)
    # Publishers that just stopped may still have messages on their way into
    # a commit: read on once the end offsets hold still.
    settle = time.monotonic() + 30
    while time.monotonic() < settle:
        time.sleep(0.5)
        again = expected_records(d, stream)
        if again == want:
            break
        want = again
    total = sum(end - start for start, end in want.values())
    c = RawClient(d.port, 5, timeout=30)
    c.connect(client_id, clean=True)
    c.subscribe((topic_filter, 0), props={"user": [("replay", "earliest"), ("stream-meta", "true")]}, expect=[0])
    out = []
    deadline = time.monotonic() + timeout
    try:
        while len(out) < total:
            if time.monotonic() > deadline:
                raise AssertionError("replay: %d of %d records after %ds" % (len(out), total, timeout))
            p = c.expect(PUBLISH, 30)
            meta = dict(p.props.get("user", []))
            out.append((int(meta["partition"]), int(meta["offset"]), p.topic, p.payload))
    finally:
        c.close()
    return out, want
