#!/usr/bin/env python3
"""Tributary vs Mosquitto, measured with tools/loadgen in the same run.

Called by bench/run.sh (`make bench`) after the release build. For each
scenario it alternates the two brokers, ROUNDS times each, each run on a
freshly started broker (fresh data directory), and reports the median and the
min-max of every number and the ratio Tributary/Mosquitto. It prints a table,
writes bench/RESULTS.md, and keeps every raw loadgen line in bench/out/.

A benchmark is not a test: this never asserts. Broker crashes, hangs, connect
failures and acknowledged-but-lost messages are listed under "Anomalies" with
the commands that reproduce them.

Environment: BENCH_BIN_DIR (default build/release/bin), BENCH_ROUNDS (3),
BENCH_SECONDS (5, per run), BENCH_IDLE_CONNECTIONS ("2000,10000"),
BENCH_RESULTS (default bench/RESULTS.md), BENCH_STORAGE (1: run storage_bench
when it exists).
"""
import datetime
import json
import os
import platform
import resource
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.abspath(os.environ.get("BENCH_BIN_DIR", os.path.join(ROOT, "build/release/bin")))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "5"))
IDLE_COUNTS = [int(x) for x in os.environ.get("BENCH_IDLE_CONNECTIONS", "2000,10000").split(",") if x]
RESULTS = os.environ.get("BENCH_RESULTS", os.path.join(ROOT, "bench/RESULTS.md"))
OUT = os.path.join(ROOT, "bench/out")
TRIBUTARYD = os.path.join(BIN, "tributaryd")
LOADGEN = os.path.join(BIN, "loadgen")
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAYLOAD = 100

anomalies = []  # (text, reproduce commands)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.02)
    return None


class Broker:
    """A broker process started for one run and read through /proc."""

    name = "?"

    def __init__(self, workdir):
        self.workdir = workdir
        self.proc = None
        self.port = None
        self.log_path = None
        self.args = []

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def proc_field(self, name, parse):
        """Reads /proc/PID/<name>; None once the process is gone."""
        try:
            with open("/proc/%d/%s" % (self.proc.pid, name)) as f:
                return parse(f.read())
        except (OSError, ValueError, IndexError):
            return None

    def cpu_s(self):
        def parse(text):  # utime + stime: fields 14 and 15, after the "(comm)" field
            fields = text.rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / CLK_TCK
        return self.proc_field("stat", parse)

    def write_bytes(self):
        return self.proc_field("io", lambda t: int(t.split("write_bytes:")[1].split()[0]))

    def rss_kib(self):
        return self.proc_field("status", lambda t: int(t.split("VmRSS:")[1].split()[0]))

    def log_tail(self, n=3):
        try:
            return " | ".join(open(self.log_path).read().strip().splitlines()[-n:])
        except OSError:
            return ""

    def stop(self):
        """SIGTERM, then SIGKILL after 15 s. Returns the exit code (None if killed)."""
        if self.proc is None:
            return None
        if self.proc.poll() is not None:
            return self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            anomalies.append(("%s did not exit within 15 s of SIGTERM (killed); log: %s"
                              % (self.name, self.log_path), [" ".join(self.args)]))
            return None


class Tributary(Broker):
    name = "tributary"
    stream_extra = ""  # more keys of the bench stream (a scenario's variant)

    def config_text(self, data_dir):
        return ('[storage]\ndir = "%s"\nsync = "always"\nmax_bytes = "8GiB"\n\n'
                '[[listener]]\nbind = "127.0.0.1:0"\n\n[admin]\nbind = "127.0.0.1:0"\n\n'
                '[limits]\nmax_connections = 20000\n\n'
                '[[stream]]\nname = "bench"\nsubjects = ["#"]\n%s' % (data_dir, self.stream_extra))

    def start(self, tag):
        self.data_dir = os.path.join(self.workdir, "data-" + tag)
        shutil.rmtree(self.data_dir, ignore_errors=True)
        self.config = os.path.join(self.workdir, "tributary.toml")
        with open(self.config, "w") as f:
            f.write(self.config_text(self.data_dir))
        ready = os.path.join(self.workdir, "ready")
        if os.path.exists(ready):
            os.unlink(ready)
        self.log_path = os.path.join(OUT, "logs", "tributaryd-%s.log" % tag)
        self.args = [TRIBUTARYD, "--config", self.config, "--ready-file", ready]
        self.proc = subprocess.Popen(self.args, stdout=open(self.log_path, "wb"),
                                     stderr=subprocess.STDOUT)

        def port():
            if not os.path.exists(ready):
                return None
            for line in open(ready):
                if line.startswith("mqtt "):
                    return int(line.split()[1].rsplit(":", 1)[1])
            return None

        self.port = wait_for(lambda: port() or (not self.alive() and -1), 20)
        if not self.port or self.port < 0:
            raise RuntimeError("tributaryd did not start; log: " + self.log_path)
        return self

    def cleanup(self):
        shutil.rmtree(self.data_dir, ignore_errors=True)


class Mosquitto(Broker):
    name = "mosquitto"
    extra_conf = ""  # appended to the configuration (bench/tls_idle.py: certificates)

    def start(self, tag):
        self.port = free_port()
        self.config = os.path.join(self.workdir, "mosquitto.conf")
        with open(self.config, "w") as f:
            # Defaults, written out: persistence off, and the two queue limits at
            # their default values.
            f.write("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n"
                    "max_inflight_messages 20\nmax_queued_messages 1000\n%s" % (self.port, self.extra_conf))
        self.log_path = os.path.join(OUT, "logs", "mosquitto-%s.log" % tag)
        self.args = [MOSQUITTO, "-c", self.config]
        self.proc = subprocess.Popen(self.args, stdout=open(self.log_path, "wb"),
                                     stderr=subprocess.STDOUT)

        def up():
            if not self.alive():
                return -1
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return 1
            except OSError:
                return None

        if wait_for(up, 20) != 1:
            raise RuntimeError("mosquitto did not start; log: " + self.log_path)
        return self

    def cleanup(self):
        pass


def loadgen_args(port, args):
    return [LOADGEN, "--port", str(port)] + args


def run_loadgen(broker, args, timeout):
    cmd = loadgen_args(broker.port, args)
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": "loadgen timed out after %d s" % timeout}, cmd
    lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
    if not lines:
        return {"error": "loadgen exit %d: %s" % (p.returncode, p.stderr.strip()[-300:])}, cmd
    return json.loads(lines[-1]), cmd


def repro(broker, cmd):
    """Shell lines that rerun one measurement by hand."""
    lg = [c if c != str(broker.port) else "$PORT" for c in cmd]
    conf = open(broker.config).read()
    lines = ["cat > /tmp/bench.conf <<'EOF'"] + conf.rstrip("\n").split("\n") + ["EOF"]
    if broker.name == "tributary":
        lines += ["%s --config /tmp/bench.conf --ready-file /tmp/bench.ready &" % TRIBUTARYD,
                  "sleep 1; PORT=$(sed -n 's/^mqtt .*://p' /tmp/bench.ready)"]
    else:
        lines += ["%s -c /tmp/bench.conf &   # PORT as in the listener line" % MOSQUITTO]
    return lines + [" ".join(shlex.quote(a) if a != "$PORT" else a for a in lg)]


def check_run(broker, scenario, rec, cmd):
    """Notes what a benchmark must not hide: crashes, hangs, lost acked messages."""
    problems = []
    if not broker.alive():
        problems.append("%s exited during the run (code %s; log ends: %s)"
                        % (broker.name, broker.proc.returncode, broker.log_tail()))
    if "error" in rec:
        problems.append(rec["error"])
    else:
        if rec.get("timed_out"):
            problems.append("loadgen hit its time limit (broker stalled?)")
        if rec.get("qos", 0) > 0 and rec.get("lost", 0) > 0 and broker.name == "tributary":
            problems.append("%d acknowledged messages never delivered" % rec["lost"])
        if rec.get("disconnects") or rec.get("connect_failures") or rec.get("unacked"):
            problems.append("disconnects=%s connect_failures=%s unacked=%s errors=%s" % (
                rec.get("disconnects"), rec.get("connect_failures"), rec.get("unacked"),
                rec.get("errors")))
    # Runs that did not happen as intended are left out of the table.
    rec["valid"] = broker.alive() and "error" not in rec and not rec.get("timed_out") and \
        not rec.get("connect_failures")
    if problems:
        anomalies.append(("%s / %s: %s; broker log %s" % (scenario, broker.name, "; ".join(problems),
                                                          broker.log_path), repro(broker, cmd)))


ON_RECEIPT = 'live_delivery = "on_receipt"\n'
NODELAY = "set_tcp_nodelay true\n"  # the latency targets compare with Mosquitto so


# Scenarios: loadgen arguments, and optionally what a scenario adds to the
# brokers' configurations: {"tributary": keys of the bench stream,
# "mosquitto": lines}. Each run gets a fresh broker.
def scenarios():
    d = str(SECONDS)
    common = ["--payload", str(PAYLOAD), "--mqtt", "3"]
    lat = {"mosquitto": NODELAY}
    receipt = {"mosquitto": NODELAY, "tributary": ON_RECEIPT}
    return [
        ("qos0_ingest", "QoS 0 ingest, 8 publishers, 100 B",
         common + ["-P", "8", "-q", "0", "-d", d]),
        ("qos1_ingest", "QoS 1 ingest, 8 publishers, window 64",
         common + ["-P", "8", "-q", "1", "-w", "64", "-d", d]),
        ("fanin", "Fan-in 8 publishers -> 1 QoS 1 subscriber",
         common + ["-P", "8", "-S", "1", "-q", "1", "-w", "64", "-d", d]),
        ("lat10k", "QoS 1 at 10,000 msg/s (4 pub -> 1 sub)",
         common + ["-P", "4", "-S", "1", "-q", "1", "-w", "64", "-r", "10000", "-d", d], lat),
        ("lat100", "QoS 1 at 100 msg/s (4 pub -> 1 sub)",
         common + ["-P", "4", "-S", "1", "-q", "1", "-w", "64", "-r", "100", "-d", d], lat),
        # The same with the stream's live_delivery = on_receipt (Mosquitto runs
        # the same load again, alternating as everywhere).
        ("lat10k_receipt", "QoS 1 at 10,000 msg/s, live_delivery on_receipt",
         common + ["-P", "4", "-S", "1", "-q", "1", "-w", "64", "-r", "10000", "-d", d], receipt),
        ("lat100_receipt", "QoS 1 at 100 msg/s, live_delivery on_receipt",
         common + ["-P", "4", "-S", "1", "-q", "1", "-w", "64", "-r", "100", "-d", d], receipt),
    ]


def warmup_args(args):
    a = list(args)
    a[a.index("-d") + 1] = "1"
    return a + ["--drain-timeout", "1"]


def wait_idle(broker, limit=10.0):
    """Waits until the broker's CPU time stops growing (at most `limit` s)."""
    deadline = time.monotonic() + limit
    last = -1.0
    while broker.alive() and time.monotonic() < deadline:
        now = broker.cpu_s()
        if now is None or now - last < 0.005:
            return
        last = now
        time.sleep(0.25)


def measure(broker_cls, key, args, rnd, workdir, extra=None):
    b = broker_cls(workdir)
    extra = extra or {}
    if isinstance(b, Tributary):
        b.stream_extra = extra.get("tributary", "")
    else:
        b.extra_conf = b.extra_conf + extra.get("mosquitto", "")
    b.start("%s-%d" % (key, rnd))
    # One second of the same load first, not measured: both brokers warm up
    # (allocations, first pages of a fresh LMDB file) the same way.
    run_loadgen(b, warmup_args(args), timeout=60)
    wait_idle(b)
    cpu0, wb0 = b.cpu_s(), b.write_bytes()
    rec, cmd = run_loadgen(b, args, timeout=SECONDS + 150)
    alive = b.alive()
    if alive:
        wait_idle(b)  # the storage writer may still be committing what was read
        cpu1, wb1 = b.cpu_s(), b.write_bytes()
        if None not in (cpu0, cpu1, wb0, wb1):
            rec["broker_cpu_s"] = cpu1 - cpu0
            rec["broker_write_bytes"] = wb1 - wb0
    rec["loadavg"] = os.getloadavg()[0]
    check_run(b, key, rec, cmd)
    rc = b.stop()
    if alive and rc not in (0, None) and b.name == "tributary":
        anomalies.append(("%s / tributary: exit code %s after SIGTERM; log %s"
                          % (key, rc, b.log_path), repro(b, cmd)))
    b.cleanup()
    rec["broker"] = b.name
    rec["scenario"] = key
    rec["round"] = rnd
    rec["command"] = " ".join(shlex.quote(a) for a in loadgen_args("PORT", args))
    return rec


def idle_round(broker_cls, count, rnd, workdir):
    """Fresh broker: RSS at rest, then RSS with `count` idle connections."""
    b = broker_cls(workdir).start("idle%d-%d" % (count, rnd))
    time.sleep(1.0)
    rec = {"broker": b.name, "scenario": "idle%d" % count, "round": rnd,
           "idle_rss_kib": b.rss_kib()}
    ready = os.path.join(workdir, "idle.ready")
    if os.path.exists(ready):
        os.unlink(ready)
    args = ["--idle", "-c", str(count), "--ready-file", ready, "--timeout", "120"]
    cmd = loadgen_args(b.port, args)
    rec["command"] = " ".join(loadgen_args("PORT", args))
    lg = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    if wait_for(lambda: os.path.exists(ready) or lg.poll() is not None, 120) and os.path.exists(ready):
        time.sleep(1.0)
        rec["loaded_rss_kib"] = b.rss_kib()
    lg.send_signal(signal.SIGTERM)
    try:
        out, _ = lg.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        lg.kill()
        out, _ = lg.communicate()
    lines = [l for l in (out or "").splitlines() if l.startswith("{")]
    rec.update(json.loads(lines[-1]) if lines else {"error": "no loadgen output"})
    connected = rec.get("connected", 0)
    if connected and rec.get("loaded_rss_kib") and rec.get("idle_rss_kib"):
        rec["rss_per_conn_kib"] = (rec["loaded_rss_kib"] - rec["idle_rss_kib"]) / connected
    rec["valid"] = connected == count and b.alive()
    if connected < count or not b.alive():
        anomalies.append(("idle %d / %s: %d of %d connected, broker alive=%s, errors=%s; log %s"
                          % (count, b.name, connected, count, b.alive(), rec.get("errors"),
                             b.log_path), repro(b, cmd)))
    b.stop()
    b.cleanup()
    rec["broker"] = b.name
    return rec


def stripped_size(path):
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "stripped")
        try:
            subprocess.run(["strip", "-o", out, path], check=True, capture_output=True)
            return os.path.getsize(out)
        except (OSError, subprocess.CalledProcessError):
            return os.path.getsize(path)


# ---- summarizing ----

def get(rec, path):
    v = rec
    for k in path.split("."):
        if not isinstance(v, dict) or k not in v:
            return None
        v = v[k]
    return v


def per_million(rec, count_key):
    n = rec.get(count_key) or 0
    c = rec.get("broker_cpu_s")
    return None if c is None or n == 0 else c / (n / 1e6)


def write_ratio(rec):
    n = rec.get("acked") or 0
    w = rec.get("broker_write_bytes")
    return None if w is None or n == 0 else w / (n * PAYLOAD)


# (label, scenario, extractor, format)
METRICS = [
    ("QoS 0 ingest, 8 pub, 100 B (msgs/s)", "qos0_ingest", lambda r: get(r, "ingest_msgs_per_s"), "%.0f"),
    ("  broker CPU s per 1M msgs", "qos0_ingest", lambda r: per_million(r, "sent"), "%.2f"),
    ("QoS 1 ingest, 8 pub, acked (msgs/s)", "qos1_ingest", lambda r: get(r, "acked_msgs_per_s"), "%.0f"),
    ("  broker CPU s per 1M msgs", "qos1_ingest", lambda r: per_million(r, "acked"), "%.2f"),
    ("Fan-in 8 pub -> 1 QoS 1 sub, delivered (msgs/s)", "fanin",
     lambda r: get(r, "delivered_msgs_per_s"), "%.0f"),
    ("  acked (msgs/s)", "fanin", lambda r: get(r, "acked_msgs_per_s"), "%.0f"),
    ("  lost (acked, never delivered)", "fanin", lambda r: get(r, "lost"), "%.0f"),
    ("  broker CPU s per 1M msgs", "fanin", lambda r: per_million(r, "acked"), "%.2f"),
    ("QoS 1 @10k msg/s: achieved (msgs/s)", "lat10k", lambda r: get(r, "delivered_msgs_per_s"), "%.0f"),
    ("  end-to-end latency p50 (us)", "lat10k", lambda r: get(r, "latency_us.p50"), "%.0f"),
    ("  end-to-end latency p99 (us)", "lat10k", lambda r: get(r, "latency_us.p99"), "%.0f"),
    ("  end-to-end latency p999 (us)", "lat10k", lambda r: get(r, "latency_us.p999"), "%.0f"),
    ("  disk bytes written per payload byte", "lat10k", write_ratio, "%.2f"),
    ("QoS 1 @100 msg/s: latency p50 (us)", "lat100", lambda r: get(r, "latency_us.p50"), "%.0f"),
    ("  end-to-end latency p99 (us)", "lat100", lambda r: get(r, "latency_us.p99"), "%.0f"),
    ("  disk bytes written per payload byte", "lat100", write_ratio, "%.2f"),
    ("QoS 1 @10k msg/s, live_delivery on_receipt: p50 (us)", "lat10k_receipt",
     lambda r: get(r, "latency_us.p50"), "%.0f"),
    ("  end-to-end latency p99 (us)", "lat10k_receipt", lambda r: get(r, "latency_us.p99"), "%.0f"),
    ("  end-to-end latency p999 (us)", "lat10k_receipt", lambda r: get(r, "latency_us.p999"), "%.0f"),
    ("QoS 1 @100 msg/s, live_delivery on_receipt: p50 (us)", "lat100_receipt",
     lambda r: get(r, "latency_us.p50"), "%.0f"),
    ("  end-to-end latency p99 (us)", "lat100_receipt", lambda r: get(r, "latency_us.p99"), "%.0f"),
    ("Idle RSS, fresh broker (KiB)", "idle%d" % (IDLE_COUNTS[0] if IDLE_COUNTS else 0),
     lambda r: get(r, "idle_rss_kib"), "%.0f"),
] + [("RSS per idle connection @%d (KiB)" % n, "idle%d" % n, lambda r: get(r, "rss_per_conn_kib"),
      "%.2f") for n in IDLE_COUNTS]


def summarize(records, broker, scenario, fn):
    vals = [fn(r) for r in records if r.get("broker") == broker and r.get("scenario") == scenario
            and r.get("valid", True)]
    vals = [v for v in vals if v is not None]
    if not vals:
        return None
    return statistics.median(vals), min(vals), max(vals), len(vals)


def cell(s, fmt):
    if s is None:
        return "n/a"
    med, lo, hi, n = s
    text = fmt % med if n == 1 or lo == hi else "%s (%s-%s)" % (fmt % med, fmt % lo, fmt % hi)
    return text if n >= ROUNDS else text + " [n=%d]" % n


def table_rows(records, sizes):
    rows = []
    for label, scen, fn, fmt in METRICS:
        t = summarize(records, "tributary", scen, fn)
        m = summarize(records, "mosquitto", scen, fn)
        ratio = "n/a"
        if t and m and m[0]:
            ratio = "%.2f" % (t[0] / m[0])
        rows.append((label, cell(t, fmt), cell(m, fmt), ratio))
    ts, ms = sizes
    rows.append(("Stripped binary size (KiB)", "%.0f" % (ts / 1024), "%.0f" % (ms / 1024),
                 "%.2f" % (ts / ms)))
    return rows


def print_table(rows):
    head = ("metric", "tributary median (min-max)", "mosquitto median (min-max)", "T/M")
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(4)]
    line = lambda r: "  ".join(r[i].ljust(widths[i]) for i in range(4))
    print(line(head))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print(line(r))


def machine():
    model = "?"
    with open("/proc/cpuinfo") as f:
        for l in f:
            if l.startswith("model name"):
                model = l.split(":", 1)[1].strip()
                break
    mem = "?"
    with open("/proc/meminfo") as f:
        mem = "%.1f GiB" % (int(f.readline().split()[1]) / 1048576)
    fs = subprocess.run(["df", "-T", OUT], capture_output=True, text=True).stdout.splitlines()[-1].split()
    load = os.getloadavg()
    return {"nproc": os.cpu_count(), "cpu": model, "mem": mem, "kernel": platform.release(),
            "fs": "%s on %s" % (fs[1], fs[0]) if len(fs) > 1 else "?",
            "load": "%.2f %.2f %.2f" % load}


def version(cmd):
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        return (p.stdout + p.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "?"


def run_storage_bench():
    """Runs bench/storage_bench when its target exists (owned by the storage benchmark)."""
    cml = os.path.join(ROOT, "bench/CMakeLists.txt")
    exe = os.path.join(BIN, "storage_bench")
    if os.environ.get("BENCH_STORAGE", "1") != "1" or "storage_bench" not in open(cml).read():
        return None
    if not os.path.exists(exe):
        return "storage_bench target exists but %s was not built" % exe
    log("== storage_bench")
    with tempfile.TemporaryDirectory(dir=OUT) as d:
        try:
            cmd = [exe, "--dir", d]
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=240, cwd=d)
            shown = [os.path.relpath(exe, ROOT), "--dir", "bench/out/<tmp>"]
            return "$ %s\n%s%s" % (" ".join(shown), p.stdout, p.stderr)
        except subprocess.TimeoutExpired as e:
            return "storage_bench timed out after 240 s\n%s" % (e.stdout or "")


def write_results(rows, records, started, elapsed, mach, storage_out, raw_path):
    L = []
    L.append("# Benchmark results: Tributary vs Mosquitto\n")
    L.append("Written by `make bench` (`bash bench/run.sh`) on %s, in %.0f s.\n"
             % (started.strftime("%Y-%m-%d %H:%M %Z").strip(), elapsed))
    L.append("## Machine\n")
    L.append("- %d CPUs: %s; %s RAM; Linux %s; data on %s" % (
        mach["nproc"], mach["cpu"], mach["mem"], mach["kernel"], mach["fs"]))
    L.append("- load average when the run started: %s (shared machine: other builds and tests "
             "were running; read small differences as noise)" % mach["load"])
    L.append("- %s; %s" % (version([TRIBUTARYD, "--version"]), version([MOSQUITTO, "-h"])))
    L.append("- broker, load generator and everything else share these CPUs over loopback TCP\n")
    L.append("## Results\n")
    L.append("%d rounds per scenario, brokers alternating, a fresh broker (fresh data directory) "
             "per run; %g s of publishing per run. Median (min-max); T/M = Tributary median / "
             "Mosquitto median. Runs listed under Anomalies that did not happen as intended (broker gone, "
             "connect failures, time-outs) are left out; [n=K] marks a cell with fewer rounds.\n"
             % (ROUNDS, SECONDS))
    L.append("| metric | Tributary | Mosquitto | T/M |")
    L.append("| --- | ---: | ---: | ---: |")
    for r in rows:
        L.append("| %s | %s | %s | %s |" % (r[0].strip(), r[1], r[2], r[3]))
    L.append("")
    L.append("## What was run\n")
    L.append("Tributary: `tributaryd --config tributary.toml --ready-file ready` with\n")
    L.append("```toml\n" + Tributary(OUT).config_text("<fresh dir>") + "```\n")
    L.append("The `*_receipt` scenarios add `%s` to that stream (plain subscribers get each record "
             "as it arrives; the PUBACK still waits for the commit and its fsync).\n" % ON_RECEIPT.strip())
    L.append("Mosquitto (%s): `mosquitto -c mosquitto.conf` with\n" % version([MOSQUITTO, "-h"]))
    L.append("```\nlistener PORT 127.0.0.1\nallow_anonymous true\npersistence false\n"
             "max_inflight_messages 20\nmax_queued_messages 1000\n```\n")
    L.append("The latency scenarios (`lat*`) add `%s` to it (the targets compare with Mosquitto "
             "with TCP_NODELAY; Tributary always sets it).\n" % NODELAY.strip())
    L.append("Load (`build/release/bin/loadgen`, one JSON line per run):\n")
    L.append("```")
    seen = set()
    for r in records:
        if r.get("command") and (r["scenario"], r["command"]) not in seen:
            seen.add((r["scenario"], r["command"]))
            L.append("%-14s %s" % (r["scenario"], r["command"]))
    L.append("```\n")
    L.append("How each number is taken:\n")
    L.append("- QoS 0 ingest: messages sent / time until the broker answered a PINGREQ sent after "
             "the last PUBLISH on every connection (the broker has read them all). Tributary has "
             "then queued them for its storage writer, not necessarily committed them.")
    L.append("- QoS 1 numbers: acknowledged messages / time to the last PUBACK. Tributary "
             "acknowledges after the fsync of the batch holding the message (`sync = \"always\"`); "
             "Mosquitto acknowledges from memory.")
    L.append("- Lost: messages the broker acknowledged (PUBACK) that the subscriber never "
             "received, after a %gs drain. Mosquitto drops QoS 1 messages for a subscriber past "
             "`max_queued_messages` (1000) queued ones, by design." % 3)
    L.append("- Latency: subscriber receive time - publisher send time (CLOCK_MONOTONIC in one "
             "process), over every message of the run.")
    L.append("- CPU: utime+stime of the broker process (/proc/PID/stat) across the run / messages "
             "(sent for QoS 0, acknowledged for QoS 1) in millions.")
    L.append("- Disk: write_bytes of the broker (/proc/PID/io) across the run / (acknowledged "
             "messages x %d B payload). Includes the broker's own log file." % PAYLOAD)
    L.append("- RSS: VmRSS of a fresh broker 1 s after start (idle) and 1 s after the load "
             "generator has N connections up (MQTT 3.1.1, clean session, keep-alive 0); per "
             "connection = difference / N. Tributary `max_connections` is raised to 20000 for it.")
    L.append("- Binary size: `strip -o` of build/release/bin/tributaryd vs /usr/sbin/mosquitto "
             "(both link their libraries dynamically).\n")
    L.append("Raw loadgen output of this run: `%s` (not committed).\n" % os.path.relpath(raw_path, ROOT))
    L.append("## Anomalies\n")
    if not anomalies:
        L.append("None: no crash, hang, connect failure, disconnect or lost acknowledged message.\n")
    for text, cmds in anomalies:
        L.append("- " + text)
        L.append("  ```\n" + "\n".join("  " + c for c in cmds) + "\n  ```")
    L.append("")
    if storage_out:
        L.append("## Storage benchmark (storage_bench)\n")
        L.append("```\n" + storage_out.rstrip() + "\n```\n")
    text = "\n".join(L)
    # Read what make soak and make fuzz wrote before open(..., "w") empties the file.
    kept = kept_sections(RESULTS, ("## Soak", "## Fuzzing"))
    with open(RESULTS, "w") as f:
        f.write(text + kept)


def kept_sections(path, headings):
    """Sections other scripts write into RESULTS.md (make soak, make fuzz), kept as they are."""
    try:
        old = open(path).read()
    except OSError:
        return ""
    out = ""
    for h in headings:
        start = old.find("\n" + h + "\n")
        if start >= 0:
            end = old.find("\n## ", start + 1)
            out += old[start:end if end >= 0 else len(old)].rstrip("\n") + "\n"
    return out


def replace_section(path, heading, text):
    """Puts `text` (which starts with `heading`) in place of that section of
    the Markdown file, or at its end."""
    try:
        old = open(path).read()
    except OSError:
        old = ""
    start = old.find("\n" + heading + "\n")
    if start < 0:
        new = old.rstrip("\n") + "\n\n" + text.rstrip("\n") + "\n"
    else:
        end = old.find("\n## ", start + 1)
        rest = old[end:] if end >= 0 else "\n"
        new = old[:start] + "\n" + text.rstrip("\n") + "\n" + rest
    with open(path, "w") as f:
        f.write(new)


def main():
    for exe in (TRIBUTARYD, LOADGEN):
        if not os.access(exe, os.X_OK):
            log("bench: %s not built" % exe)
            return 1
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # inherited by brokers and loadgen
    idle_counts = [n for n in IDLE_COUNTS if n + 200 <= hard]
    for n in IDLE_COUNTS:
        if n not in idle_counts:
            anomalies.append(("idle %d skipped: RLIMIT_NOFILE hard limit is %d" % (n, hard), []))
    os.makedirs(os.path.join(OUT, "logs"), exist_ok=True)
    started = datetime.datetime.now().astimezone()
    t_start = time.monotonic()
    mach = machine()
    workdir = tempfile.mkdtemp(prefix="work-", dir=OUT)
    raw_path = os.path.join(OUT, "raw-%s.jsonl" % started.strftime("%Y%m%d-%H%M%S"))
    records = []
    with open(raw_path, "w") as raw:
        def keep(rec):
            records.append(rec)
            raw.write(json.dumps(rec) + "\n")
            raw.flush()

        for key, title, args, *extra in scenarios():
            extra = extra[0] if extra else None
            for rnd in range(1, ROUNDS + 1):
                for cls in (Tributary, Mosquitto):
                    log("== %s round %d %s" % (title, rnd, cls.name))
                    try:
                        keep(measure(cls, key, args, rnd, workdir, extra))
                    except Exception as e:  # a benchmark reports, it does not stop
                        anomalies.append(("%s / %s: %s" % (key, cls.name, e), []))
        for n in idle_counts:
            for rnd in range(1, ROUNDS + 1):
                for cls in (Tributary, Mosquitto):
                    log("== idle %d connections round %d %s" % (n, rnd, cls.name))
                    try:
                        keep(idle_round(cls, n, rnd, workdir))
                    except Exception as e:  # a benchmark reports, it does not stop
                        anomalies.append(("idle %d / %s: %s" % (n, cls.name, e), []))
    sizes = (stripped_size(TRIBUTARYD), stripped_size(MOSQUITTO))
    storage_out = run_storage_bench()
    shutil.rmtree(workdir, ignore_errors=True)
    rows = table_rows(records, sizes)
    print()
    print_table(rows)
    write_results(rows, records, started, time.monotonic() - t_start, mach, storage_out, raw_path)
    if anomalies:
        print("\nAnomalies:")
        for text, cmds in anomalies:
            print(" - " + text)
            for c in cmds:
                print("     " + c)
    print("\nwrote %s; raw: %s" % (os.path.relpath(RESULTS, ROOT), os.path.relpath(raw_path, ROOT)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
