#!/usr/bin/env python3
"""Soak: the release tributaryd under mixed load for DURATION with a flapping
upstream, then a verdict and a "Soak" section in bench/RESULTS.md.

Called by scripts/soak.sh (`make soak DURATION=1h`). The load, all at once:

- a QoS 1 publisher (100 msg/s) into stream `telemetry`, which an `mqtt`
  exporter ships to a real Mosquitto; a subscriber there counts what arrives;
- tools/loadgen runs back to back: QoS 1 into stream `bulk` (4 publishers,
  2 subscribers, 2,000 msg/s) and QoS 0 on topics no stream captures
  (4 publishers, 2 subscribers, 5,000 msg/s), 60 s each;
- the upstream flaps every 30-90 s: stopped for 5-20 s, or frozen
  (SIGSTOP) for 5-15 s.

Retention keeps the data bounded (`bulk` max_bytes 16 MiB, `telemetry`
max_age 3 min). Every 10 s the daemon's RSS (total and anonymous), its data
file size and the exporter lag are sampled. After the warm-up (a quarter of
the run, at least 4 minutes) RSS and file size must stay flat.

Passes when: nothing acknowledged is lost (telemetry: every acknowledged
message arrives upstream; bulk: loadgen's `lost` is 0), no error line in the
daemon log, the daemon stops cleanly, RSS and file size are flat.

Environment: SOAK_BIN_DIR (default build/release/bin), SOAK_SEED,
BENCH_RESULTS (default bench/RESULTS.md). Exit 0 on pass, 1 on fail.
"""
import datetime
import json
import os
import platform
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests/integration"))
from harness import Closed, MqttCounter, PersistentMosquitto, RawClient, free_port  # noqa: E402
sys.path.insert(0, os.path.join(ROOT, "bench"))
from compare import replace_section  # noqa: E402

BIN = os.path.abspath(os.environ.get("SOAK_BIN_DIR", os.path.join(ROOT, "build/release/bin")))
RESULTS = os.environ.get("BENCH_RESULTS", os.path.join(ROOT, "bench/RESULTS.md"))
SAMPLE_S = 10
FLAT_RSS_KIB = 8 * 1024    # growth allowed after warm-up
FLAT_FILE_KIB = 8 * 1024


def log(msg):
    print("[soak %s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


def parse_duration(text):
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    text = text.strip()
    if text[-1:] in units:
        return float(text[:-1]) * units[text[-1]]
    return float(text)


def proc_kib(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


class Telemetry(threading.Thread):
    """QoS 1 publisher at about 100 msg/s; acked holds the numbers acknowledged."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port = port
        self.acked = set()
        self.n = 0
        self.halt = threading.Event()

    def run(self):
        while not self.halt.is_set():
            c = None
            try:
                c = RawClient(self.port, 5, timeout=30)
                c.connect("soak-telemetry")
                while not self.halt.is_set():
                    n = self.n
                    self.n += 1
                    if c.publish("sensors/t%d" % (n % 8), b"t%d" % n, qos=1).rc == 0:
                        self.acked.add(n)
                    time.sleep(0.01)
            except (OSError, Closed, AssertionError):
                time.sleep(0.5)
            finally:
                if c:
                    c.close()


class LoadgenCycle(threading.Thread):
    """Back-to-back loadgen runs; results holds each run's JSON."""

    RUNS = [
        ("bulk-qos1", ["-P", "4", "-S", "2", "-q", "1", "-w", "32", "-r", "2000", "-t", "bench/{pub}",
                       "-f", "bench/#"]),
        ("live-qos0", ["-P", "4", "-S", "2", "-q", "0", "-r", "5000", "-t", "live/{pub}", "-f", "live/#"]),
    ]

    def __init__(self, port, until):
        super().__init__(daemon=True)
        self.port, self.until = port, until
        self.results = []

    def run(self):
        i = 0
        while time.monotonic() + 70 < self.until:
            name, args = self.RUNS[i % len(self.RUNS)]
            i += 1
            cmd = [os.path.join(BIN, "loadgen"), "--port", str(self.port), "--payload", "100", "-d", "60",
                   "--client-prefix", "soak-%d-" % i] + args
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
            try:
                r = json.loads(p.stdout.strip().splitlines()[-1])
            except (ValueError, IndexError):
                r = {"error": "no report: rc %d %s" % (p.returncode, p.stderr[-300:])}
            r["run"] = name
            self.results.append(r)


class Flapper(threading.Thread):
    def __init__(self, up, rng, until):
        super().__init__(daemon=True)
        self.up, self.rng, self.until = up, rng, until
        self.events = {"stopped": 0, "frozen": 0}
        self.halt = threading.Event()

    def run(self):
        while not self.halt.wait(self.rng.uniform(30, 90)) and time.monotonic() < self.until:
            if self.rng.random() < 0.6:
                self.up.stop()
                self.events["stopped"] += 1
                time.sleep(self.rng.uniform(5, 20))
                self.up.start()
            else:
                os.kill(self.up.proc.pid, signal.SIGSTOP)
                self.events["frozen"] += 1
                time.sleep(self.rng.uniform(5, 15))
                os.kill(self.up.proc.pid, signal.SIGCONT)


def admin_json(addr, path):
    with urllib.request.urlopen("http://%s%s" % (addr, path), timeout=10) as r:
        return json.loads(r.read())


def lag(addr):
    try:
        return sum(p["lag_records"] for p in admin_json(addr, "/v1/exporters")[0]["partitions"])
    except (OSError, ValueError, IndexError, KeyError):
        return -1


def slope_kib_per_10min(samples, key):
    """Least-squares slope of samples[key] over time, KiB per 10 minutes."""
    xs = [s["t"] for s in samples]
    ys = [s[key] for s in samples]
    n = len(xs)
    if n < 2:
        return 0.0
    mx, my = sum(xs) / n, sum(ys) / n
    den = sum((x - mx) ** 2 for x in xs)
    return 0.0 if den == 0 else sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den * 600


def main():
    duration = parse_duration(sys.argv[1] if len(sys.argv) > 1 else "1h")
    seed = int(os.environ.get("SOAK_SEED", str(int(time.time()) % 100000)))
    rng = random.Random(seed)
    warmup = float(os.environ.get("SOAK_WARMUP", max(240.0, duration / 4)))
    log("duration %ds, warm-up %ds, seed %d" % (duration, warmup, seed))
    work = tempfile.mkdtemp(prefix="soak-", dir=os.path.join(ROOT, "bench/out") if os.path.isdir(
        os.path.join(ROOT, "bench/out")) else None)
    up = PersistentMosquitto()
    up.start()
    collector = MqttCounter(up.port, "site/#", client_id="soak-collector").start()
    data = os.path.join(work, "data")
    port = free_port()
    conf = os.path.join(work, "tributary.toml")
    with open(conf, "w") as f:
        f.write('[storage]\ndir = "%s"\nsync = "always"\nmax_bytes = "256MiB"\n'
                '[[listener]]\nbind = "127.0.0.1:%d"\n[admin]\nbind = "127.0.0.1:0"\n'
                '[limits]\nmax_connections = 2000\n'
                '[[stream]]\nname = "telemetry"\nsubjects = ["sensors/#"]\npartitions = 2\nmax_age = "3m"\n'
                '[[stream]]\nname = "bulk"\nsubjects = ["bench/#"]\npartitions = 4\nmax_bytes = "16MiB"\n'
                '[[exporter]]\nname = "up"\nkind = "mqtt"\nstreams = ["telemetry"]\n'
                'url = "mqtt://127.0.0.1:%d"\ntopic_prefix = "site/{node_id}/"\n' % (data, port, up.port))
    ready = os.path.join(work, "ready")
    daemon_log = os.path.join(work, "tributaryd.log")
    d = subprocess.Popen([os.path.join(BIN, "tributaryd"), "--config", conf, "--ready-file", ready],
                         stdout=open(daemon_log, "wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while not os.path.exists(ready):
        if time.monotonic() > deadline or d.poll() is not None:
            log("tributaryd did not start; log: %s" % daemon_log)
            return 1
        time.sleep(0.05)
    admin = [l.split()[1] for l in open(ready) if l.startswith("admin ")][0]
    t0 = time.monotonic()
    until = t0 + duration
    tele = Telemetry(port)
    tele.start()
    cycle = LoadgenCycle(port, until)
    cycle.start()
    flap = Flapper(up, rng, until - 60)
    flap.start()
    samples = []
    csv_path = os.path.join(work, "samples.csv")
    with open(csv_path, "w") as csv:
        csv.write("t_s,rss_kib,rss_anon_kib,file_bytes,file_alloc_bytes,lag_records\n")
        while time.monotonic() < until and d.poll() is None:
            st = os.stat(os.path.join(data, "data.mdb"))
            s = {"t": time.monotonic() - t0, "rss": proc_kib(d.pid, "VmRSS"), "anon": proc_kib(d.pid, "RssAnon"),
                 "file": st.st_size // 1024, "alloc": st.st_blocks * 512 // 1024, "lag": lag(admin)}
            samples.append(s)
            csv.write("%.0f,%d,%d,%d,%d,%d\n" % (s["t"], s["rss"], s["anon"], st.st_size, st.st_blocks * 512, s["lag"]))
            csv.flush()
            if len(samples) % 6 == 0:
                log("t=%4.0fs RSS %d KiB (anon %d), file %d KiB, lag %d, telemetry acked %d, loadgen runs %d"
                    % (s["t"], s["rss"], s["anon"], s["file"], s["lag"], len(tele.acked), len(cycle.results)))
            time.sleep(SAMPLE_S)
    failures = []
    if d.poll() is not None:
        failures.append("tributaryd exited during the run (code %s)" % d.returncode)
    tele.halt.set()
    flap.halt.set()
    tele.join(60)
    cycle.join(700)
    flap.join(120)
    if up.proc is None or up.proc.poll() is not None:
        up.start()
    try:
        os.kill(up.proc.pid, signal.SIGCONT)
    except OSError:
        pass
    # Drain: every acknowledged telemetry message upstream.
    drain_deadline = time.monotonic() + 600
    want = {b"t%d" % n for n in tele.acked}
    while time.monotonic() < drain_deadline:
        with collector.lock:
            got = set(collector.counts)
        if want <= got:
            break
        time.sleep(1)
    with collector.lock:
        missing = len(want - set(collector.counts))
        dups = collector.total - len(collector.counts)
    if missing:
        failures.append("%d acknowledged telemetry messages never arrived upstream" % missing)
    exporter = admin_json(admin, "/v1/exporters")[0] if d.poll() is None else {}
    d.send_signal(signal.SIGTERM)
    try:
        rc = d.wait(60)
    except subprocess.TimeoutExpired:
        d.kill()
        rc = "hung"
    if rc != 0:
        failures.append("tributaryd stop: exit %s" % rc)
    errors = [l for l in open(daemon_log, errors="replace") if l.startswith("<3>") or l.startswith("<2>")]
    if errors:
        failures.append("%d error lines in the daemon log, first: %s" % (len(errors), errors[0].strip()))
    bulk = [r for r in cycle.results if r.get("run") == "bulk-qos1"]
    live = [r for r in cycle.results if r.get("run") == "live-qos0"]
    for r in cycle.results:
        if "error" in r:
            failures.append("loadgen %s: %s" % (r["run"], r["error"]))
        elif r.get("disconnects") or r.get("connect_failures"):
            failures.append("loadgen %s: %s disconnects, %s connect failures"
                            % (r["run"], r.get("disconnects"), r.get("connect_failures")))
    bulk_lost = sum(r.get("lost", 0) for r in bulk)
    if bulk_lost:
        failures.append("loadgen bulk-qos1: %d acknowledged messages lost" % bulk_lost)
    post = [s for s in samples if s["t"] >= warmup]
    flat = {}
    if len(post) >= 3:
        for key, bound in (("anon", FLAT_RSS_KIB), ("rss", FLAT_RSS_KIB), ("file", FLAT_FILE_KIB)):
            growth = max(s[key] for s in post) - post[0][key]
            flat[key] = (post[0][key], post[-1][key], max(s[key] for s in post), growth,
                         slope_kib_per_10min(post, key))
            if growth > bound:
                failures.append("%s grew %d KiB after warm-up (allowed %d)" % (key, growth, bound))
    else:
        failures.append("too few samples after the warm-up to judge flatness")
    collector.stop()
    up.cleanup()
    elapsed = time.monotonic() - t0
    summary = {
        "duration_s": round(elapsed), "warmup_s": round(warmup), "seed": seed,
        "telemetry_acked": len(tele.acked), "telemetry_missing": missing, "telemetry_duplicates": dups,
        "exporter_reconnects": exporter.get("reconnects"), "flaps": flap.events,
        "bulk_runs": len(bulk), "bulk_acked": sum(r.get("acked", 0) for r in bulk), "bulk_lost": bulk_lost,
        "live_runs": len(live), "live_sent": sum(r.get("sent", 0) for r in live),
        "live_received": sum(r.get("received", 0) for r in live),
        "flat": flat, "samples": csv_path, "failures": failures,
    }
    log(json.dumps(summary))
    write_section(summary, duration)
    log("PASS" if not failures else "FAIL: " + "; ".join(failures))
    return 0 if not failures else 1


def write_section(s, requested):
    mem = "%.1f GiB" % (os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30)
    L = ["## Soak\n",
         "Written by `make soak DURATION=%s` (`scripts/soak.sh`, `bench/soak.py`) on %s UTC: %d s of mixed "
         "load (requested %d s), warm-up %d s, seed %d. Machine: %d CPUs, %s RAM, Linux %s, shared with "
         "other builds and tests.\n" % (
             os.environ.get("SOAK_DURATION_TEXT", "%ds" % requested),
             datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M"), s["duration_s"], requested,
             s["warmup_s"], s["seed"], os.cpu_count(), mem, platform.release()),
         "Load, all at once: QoS 1 at 100 msg/s into stream `telemetry`, shipped by an `mqtt` exporter "
         "to a real Mosquitto that flaps every 30-90 s (stopped 5-20 s, or frozen with SIGSTOP 5-15 s); "
         "loadgen back to back, 60 s each: QoS 1 into stream `bulk` (4 publishers, 2 subscribers, "
         "2,000 msg/s, 100 B) and QoS 0 on topics in no stream (4 + 2, 5,000 msg/s). Retention: "
         "`bulk` max_bytes 16 MiB, `telemetry` max_age 3 min; `sync = \"always\"`. Release build.\n",
         "| figure | value |", "| --- | --- |",
         "| verdict | %s |" % ("PASS" if not s["failures"] else "FAIL: " + "; ".join(s["failures"])),
         "| telemetry acknowledged / missing upstream / duplicates upstream | %d / %d / %d |"
         % (s["telemetry_acked"], s["telemetry_missing"], s["telemetry_duplicates"]),
         "| upstream outages (stopped, frozen) / exporter reconnects | %d, %d / %s |"
         % (s["flaps"]["stopped"], s["flaps"]["frozen"], s["exporter_reconnects"]),
         "| bulk QoS 1 runs / acknowledged / lost | %d / %d / %d |" % (s["bulk_runs"], s["bulk_acked"], s["bulk_lost"]),
         "| in-memory QoS 0 runs / sent / received | %d / %d / %d |" % (s["live_runs"], s["live_sent"], s["live_received"])]
    names = {"rss": "RSS (KiB)", "anon": "anonymous RSS (KiB)", "file": "data file size (KiB)"}
    for key in ("rss", "anon", "file"):
        if key in s["flat"]:
            first, last, peak, growth, slope = s["flat"][key]
            L.append("| %s after warm-up: first / last / max / growth / trend per 10 min | %d / %d / %d / %d / %+.0f |"
                     % (names[key], first, last, peak, growth, slope))
    L.append("\nRSS and file size count as flat when they grow by at most %d MiB after the warm-up. "
             "Samples every %d s: `%s` (not committed).\n" % (FLAT_RSS_KIB // 1024, SAMPLE_S,
                                                             os.path.relpath(s["samples"], ROOT)))
    replace_section(RESULTS, "## Soak", "\n".join(L))


if __name__ == "__main__":
    sys.exit(main())
