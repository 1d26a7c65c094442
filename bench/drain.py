#!/usr/bin/env python3
"""Exporter drain benchmark: how fast an edge tributaryd ships a backlog.

Called by bench/run.sh (`make bench`) after bench/compare.py. For each
upstream kind it starts a fresh edge tributaryd whose exporter points at an
upstream that is down, fills a backlog of BENCH_DRAIN_RECORDS (1,000,000)
records with tools/loadgen (QoS 0, 100 B payloads, 8 publishers), waits until
they are all stored, brings the upstream up and measures:

- drain rate: records acknowledged upstream / time, from the first
  acknowledged record to the last (reconnect back-off before it is not
  counted), read from the edge's /v1/exporters every 100 ms;
- the edge's RSS (VmRSS, and its anonymous part RssAnon: VmRSS also counts the
  LMDB file pages the drain reads through the memory map) at the start of the
  drain, its peak and at the end;
- CPU seconds of the edge (and of the upstream) during the drain.

Upstreams: a second tributaryd (`peer` kind; replication on, sync = "always"),
Mosquitto (`mqtt` kind; its direct QoS 1 ingest from loadgen is measured in the
same run for the ratio), and librdkafka's mock cluster (`kafka` kind,
`bridge_driver kafka-mock`). A benchmark never asserts: targets missed are
reported, not failed. Writes a section of bench/RESULTS.md (between the drain
markers, appended when missing) and bench/out/drain-*.json.
"""
import datetime
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import free_port, log  # noqa: E402  (the same helpers as the comparison)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.abspath(os.environ.get("BENCH_BIN_DIR", os.path.join(ROOT, "build/release/bin")))
RECORDS = int(os.environ.get("BENCH_DRAIN_RECORDS", "1000000"))
KINDS = [k for k in os.environ.get("BENCH_DRAIN_KINDS", "peer,mqtt,kafka").split(",") if k]
RESULTS = os.environ.get("BENCH_RESULTS", os.path.join(ROOT, "bench/RESULTS.md"))
OUT = os.path.join(ROOT, "bench/out")
TRIBUTARYD = os.path.join(BIN, "tributaryd")
LOADGEN = os.path.join(BIN, "loadgen")
DRIVER = os.path.join(BIN, "bridge_driver")
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAYLOAD = 100
PEER_SYNC = os.environ.get("BENCH_DRAIN_PEER_SYNC", "always")
BEGIN = "<!-- drain: written by bench/drain.py -->"
END = "<!-- end drain -->"
MOSQUITTO_CONF = ("allow_anonymous true\npersistence false\n"
                  "max_inflight_messages 20\nmax_queued_messages 1000\n")


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise RuntimeError("timed out waiting for " + what)


def proc_status(pid, field):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def cpu_s(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except OSError:
        return None


class Tributaryd:
    def __init__(self, workdir, tag, config):
        self.dir = os.path.join(workdir, tag)
        os.makedirs(self.dir, exist_ok=True)
        self.config_path = os.path.join(self.dir, "tributary.toml")
        self.config = config.replace("@DATA@", os.path.join(self.dir, "data"))
        with open(self.config_path, "w") as f:
            f.write(self.config)
        ready = os.path.join(self.dir, "ready")
        self.log_path = os.path.join(OUT, "logs", "drain-%s.log" % tag)
        self.proc = subprocess.Popen([TRIBUTARYD, "--config", self.config_path, "--ready-file", ready],
                                     stdout=open(self.log_path, "wb"), stderr=subprocess.STDOUT)
        wait_for(lambda: os.path.exists(ready) or self.proc.poll() is not None, 30, "tributaryd")
        if self.proc.poll() is not None:
            raise RuntimeError("tributaryd exited; log " + self.log_path)
        self.addr = {}
        for line in open(ready):
            kind, a = line.split()
            self.addr.setdefault(kind, a)
        self.port = int(self.addr["mqtt"].rsplit(":", 1)[1])

    def get(self, path):
        with urllib.request.urlopen("http://%s%s" % (self.addr["admin"], path), timeout=10) as r:
            return json.loads(r.read())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Upstream:
    """Down until up() is called; `url`/`brokers` are known before that."""

    def __init__(self, kind, workdir):
        self.kind = kind
        self.workdir = workdir
        self.proc = None
        self.tributary = None
        self.mock = None
        self.port = free_port()
        if kind == "kafka":
            self.mock = subprocess.Popen([DRIVER, "kafka-mock", "--brokers", "1", "--topic", "telemetry",
                                          "--partitions", "4"], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, text=True, bufsize=1,
                                         stderr=open(os.path.join(OUT, "logs", "drain-kafka-mock.log"), "w"))
            self.bootstrap = self.mock.stdout.readline().split()[1]
            self.command("down 1")

    def command(self, text):
        self.mock.stdin.write(text + "\n")
        self.mock.stdin.flush()
        return self.mock.stdout.readline().strip()

    def exporter(self):
        if self.kind == "peer":
            return 'kind = "peer"\nurl = "mqtt://127.0.0.1:%d"\n' % self.port
        if self.kind == "mqtt":
            return 'kind = "mqtt"\nurl = "mqtt://127.0.0.1:%d"\ntopic_prefix = "site/{node_id}/"\n' % self.port
        return 'kind = "kafka"\nbrokers = "%s"\n' % self.bootstrap

    def up(self):
        if self.kind == "peer":
            self.tributary = Tributaryd(self.workdir, "central", (
                'node_id = "central"\n[storage]\ndir = "@DATA@"\nsync = "%s"\nmax_bytes = "8GiB"\n'
                '[replication]\nenabled = true\n[[listener]]\nbind = "127.0.0.1:%d"\n'
                '[admin]\nbind = "127.0.0.1:0"\n' % (PEER_SYNC, self.port)))
            self.proc = self.tributary.proc
        elif self.kind == "mqtt":
            conf = os.path.join(self.workdir, "mosquitto.conf")
            with open(conf, "w") as f:
                f.write("listener %d 127.0.0.1\n%s" % (self.port, MOSQUITTO_CONF))
            self.proc = subprocess.Popen([MOSQUITTO, "-c", conf], stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)
            wait_for(lambda: self.accepts(), 20, "mosquitto")
        else:
            self.command("up 1")

    def accepts(self):
        try:
            socket.create_connection(("127.0.0.1", self.port), 0.2).close()
            return True
        except OSError:
            return False

    def stop(self):
        if self.tributary:
            self.tributary.stop()
        elif self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)
        if self.mock and self.mock.poll() is None:
            try:
                self.mock.stdin.write("quit\n")
                self.mock.stdin.flush()
                self.mock.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                self.mock.kill()


def loadgen(port, args, timeout=600):
    cmd = [LOADGEN, "--port", str(port), "--payload", str(PAYLOAD), "--mqtt", "3"] + args
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
    if not lines:
        raise RuntimeError("loadgen failed: %s" % p.stderr[-300:])
    return json.loads(lines[-1]), cmd


def stored(edge):
    return sum(p["end_offset"] for s in edge.get("/v1/streams") if s["name"] == "telemetry"
               for p in s["partitions"])


def drain_one(kind, workdir):
    up = Upstream(kind, workdir)
    edge = None
    try:
        edge = Tributaryd(workdir, "edge-" + kind, (
            'node_id = "edge1"\n[storage]\ndir = "@DATA@"\nsync = "interval"\nmax_bytes = "8GiB"\n'
            '[[listener]]\nbind = "127.0.0.1:0"\n[admin]\nbind = "127.0.0.1:0"\n'
            '[[stream]]\nname = "telemetry"\nsubjects = ["#"]\npartitions = 4\n'
            '[[exporter]]\nname = "up"\nstreams = ["telemetry"]\n' + up.exporter()))
        t0 = time.monotonic()
        fill, fill_cmd = loadgen(edge.port, ["-P", "8", "-q", "0", "-n", str(RECORDS)])
        wait_for(lambda: stored(edge) >= RECORDS, 300, "the backlog to be stored")
        log("   backlog of %d stored in %.1f s" % (stored(edge), time.monotonic() - t0))
        time.sleep(1)
        pid = edge.proc.pid
        rss0, anon0 = proc_status(pid, "VmRSS"), proc_status(pid, "RssAnon")
        up.up()
        t_up = time.monotonic()
        cpu_edge0 = cpu_s(pid)
        up_pid = up.proc.pid if up.proc else up.mock.pid  # the mock cluster runs in bridge_driver
        cpu_up0 = cpu_s(up_pid)
        first = None  # (time, acked) of the first sample with progress
        samples = []
        acked = 0
        deadline = t_up + 900
        while time.monotonic() < deadline:
            st = edge.get("/v1/exporters")[0]
            now = time.monotonic()
            acked = st["records_acked"]
            lag = sum(p["lag_records"] for p in st["partitions"])
            sample = [now - t_up, acked, proc_status(pid, "VmRSS"), proc_status(pid, "RssAnon")]
            if up.tributary:  # what the upstream has committed, live (the edge's status lags <= 200 ms)
                try:
                    sample.append(sum(p["end_offset"] for s in up.tributary.get("/v1/streams")
                                      if s["name"] == "edge1.telemetry" for p in s["partitions"]))
                except (OSError, ValueError):
                    sample.append(None)
            samples.append(tuple(sample))
            if first is None and acked > 0:
                first = (now, acked)
            if acked >= RECORDS and lag == 0:
                break
            time.sleep(0.02)
        t_end = time.monotonic()
        rec = {"kind": kind, "records": RECORDS, "acked": acked, "state": st["state"],
               "last_error": st["last_error"], "fill_command": " ".join(fill_cmd[1:]),
               "edge_config": edge.config, "rss_kib_start": rss0, "rss_anon_kib_start": anon0,
               "rss_kib_peak": max(s[2] or 0 for s in samples),
               "rss_anon_kib_peak": max(s[3] or 0 for s in samples),
               "rss_kib_end": samples[-1][2], "rss_anon_kib_end": samples[-1][3],
               "cpu_s_edge": round(cpu_s(pid) - cpu_edge0, 2),
               "seconds_to_first_ack": round(first[0] - t_up, 2) if first else None}
        if cpu_up0 is not None:
            rec["cpu_s_upstream"] = round(cpu_s(up_pid) - cpu_up0, 2)
        if first and acked > first[1]:
            rec["drain_s"] = round(t_end - first[0], 2)
            rec["records_per_s"] = round((acked - first[1]) / max(1e-3, t_end - first[0]))
        # (For the peer kind, records_per_s is replaced below by the end-to-end
        # figure: its drain ends within a few polls of the edge's status.)
        if kind == "mqtt":
            # The same Mosquitto, fed directly by QoS 1 publishers.
            direct, cmd = loadgen(up.port, ["-P", "8", "-q", "1", "-w", "64", "-d", "5"])
            rec["mosquitto_direct_qos1_per_s"] = round(direct.get("acked_msgs_per_s") or 0)
            rec["mosquitto_direct_raw"] = direct
            rec["mosquitto_direct_command"] = " ".join(cmd[1:])
        if kind == "peer":
            rec["central_config"] = up.tributary.config
            # The upstream's own view: committed records over time (live, no status lag).
            seen = [x for x in samples if len(x) > 4 and x[4]]
            done = [x for x in seen if x[4] >= RECORDS]
            if seen and done and done[0][0] > seen[0][0]:
                rec["upstream_committed_per_s"] = round((RECORDS - seen[0][4]) / (done[0][0] - seen[0][0]))
            if seen:
                # A drain this short is over in a few polls of the edge's status
                # (refreshed every <= 200 ms), so its acked-rate is coarse. End to
                # end instead: from the poll before the upstream first had
                # records to the edge reporting every record acknowledged (status
                # delay included: a lower bound).
                start = seen[0][0] - 0.02
                rec["end_to_end_per_s"] = round(RECORDS / max(1e-3, t_end - t_up - start))
                rec["end_to_end_s"] = round(t_end - t_up - start, 2)
                if "records_per_s" in rec:
                    rec["edge_status_per_s"] = rec["records_per_s"]
                rec["records_per_s"] = rec["end_to_end_per_s"]
                rec["drain_s"] = rec["end_to_end_s"]
        rec["samples"] = samples
        return rec
    finally:
        if edge:
            edge.stop()
        up.stop()


def fmt_kib(v):
    return "%.1f MiB" % (v / 1024.0) if v else "?"


def section(results, started, load):
    L = [BEGIN, "", "## Exporter drain (bench/drain.py)", ""]
    L.append("Written by `make bench` (`python3 bench/drain.py` after compare.py) on %s; load average "
             "at the start: %s. A backlog of %d records (100 B payloads, QoS 0 from 8 loadgen "
             "publishers) is stored on an edge tributaryd while its exporter's upstream is down; the "
             "upstream comes up and the edge drains. Rate = records acknowledged upstream / time from "
             "the first acknowledgement to the last. RSS of the edge: VmRSS (includes LMDB file pages "
             "read through the map) and RssAnon (heap), at the start of the drain / peak / end.\n"
             % (started.strftime("%Y-%m-%d %H:%M %Z").strip(), load, RECORDS))
    L.append("| upstream | records/s | drain s | edge RSS start / peak / end | edge RssAnon start / peak / end | edge CPU s | upstream CPU s |")
    L.append("| --- | ---: | ---: | --- | --- | ---: | ---: |")
    for r in results:
        if "error" in r:
            L.append("| %s | error: %s | | | | | |" % (r["kind"], r["error"]))
            continue
        L.append("| %s | %s | %s | %s / %s / %s | %s / %s / %s | %s | %s |" % (
            {"peer": "tributaryd (peer)", "mqtt": "Mosquitto (mqtt)", "kafka": "Kafka mock (kafka)"}[r["kind"]],
            r.get("records_per_s", "?"), r.get("drain_s", "?"),
            fmt_kib(r["rss_kib_start"]), fmt_kib(r["rss_kib_peak"]), fmt_kib(r["rss_kib_end"]),
            fmt_kib(r["rss_anon_kib_start"]), fmt_kib(r["rss_anon_kib_peak"]), fmt_kib(r["rss_anon_kib_end"]),
            r.get("cpu_s_edge", "?"), r.get("cpu_s_upstream", "n/a")))
    L.append("")
    for r in results:
        if r.get("kind") == "mqtt" and r.get("mosquitto_direct_qos1_per_s"):
            ratio = r.get("records_per_s", 0) / r["mosquitto_direct_qos1_per_s"]
            cmd = r["mosquitto_direct_command"].split()
            cmd[cmd.index("--port") + 1] = "PORT"
            L.append("Mosquitto direct QoS 1 ingest in the same run, same broker (`loadgen %s`): "
                     "%d msgs/s; the drain reached %.0f%% of it (target: 90%%). Where the time goes "
                     "(Paho C as Debian builds it): README, \"What it does not do yet\".\n"
                     % (" ".join(cmd), r["mosquitto_direct_qos1_per_s"], 100 * ratio))
        if r.get("kind") == "peer" and r.get("records_per_s"):
            L.append("Peer target: 1,000,000 records/s over loopback. Measured (the table's figure): %s "
                     "records/s end to end, %s s from the poll before the upstream's first commit to the "
                     "edge reporting all %d acknowledged (the edge's status delay of up to 200 ms "
                     "included, so a lower bound); %s records/s committed as seen by the upstream (its "
                     "/v1/streams end offsets, polled every 20 ms).\n"
                     % (r.get("end_to_end_per_s", "?"), r.get("end_to_end_s", "?"), RECORDS,
                        r.get("upstream_committed_per_s", "?")))
    L.append("Edge configuration (the `[[exporter]]` table differs per upstream):\n")
    for r in results:
        if "edge_config" in r:
            L.append("```toml\n" + r["edge_config"].rstrip() + "\n```\n")
            break
    for r in results:
        if r.get("central_config"):
            L.append("Peer upstream:\n\n```toml\n" + r["central_config"].rstrip() + "\n```\n")
    L.append("Mosquitto: `mosquitto -c mosquitto.conf` with `listener PORT 127.0.0.1` and\n\n```\n"
             + MOSQUITTO_CONF.rstrip() + "\n```\n")
    if results and results[0].get("fill_command"):
        L.append("Backlog: `loadgen %s`.\n" % results[0]["fill_command"])
    L.append("Kafka: librdkafka's mock cluster (`bridge_driver kafka-mock --brokers 1 --partitions 4`), "
             "its broker set down while the backlog fills.\n")
    L.append("Reproduce: `python3 bench/drain.py` (BENCH_DRAIN_KINDS=peer,mqtt,kafka, "
             "BENCH_DRAIN_RECORDS=1000000, BENCH_BIN_DIR=build/release/bin); raw numbers in "
             "bench/out/drain-*.json.\n")
    L.append(END)
    return "\n".join(L) + "\n"


def write_section(text):
    old = open(RESULTS).read() if os.path.exists(RESULTS) else ""
    if BEGIN in old and END in old:
        a = old.index(BEGIN)
        b = old.index(END) + len(END)
        new = old[:a] + text.rstrip("\n") + old[b:]
    else:
        new = old.rstrip("\n") + "\n\n" + text
    with open(RESULTS, "w") as f:
        f.write(new)


def main():
    for exe in (TRIBUTARYD, LOADGEN, DRIVER):
        if not os.access(exe, os.X_OK):
            log("drain: %s not built" % exe)
            return 1
    os.makedirs(os.path.join(OUT, "logs"), exist_ok=True)
    started = datetime.datetime.now().astimezone()
    load = " ".join(open("/proc/loadavg").read().split()[:3])
    results = []
    for kind in KINDS:
        workdir = tempfile.mkdtemp(prefix="drain-", dir=OUT)
        log("== drain to %s" % kind)
        try:
            results.append(drain_one(kind, workdir))
        except Exception as e:  # a benchmark reports, it does not stop
            results.append({"kind": kind, "error": str(e)})
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        r = results[-1]
        log("   %s" % json.dumps({k: v for k, v in r.items() if k not in ("samples", "edge_config", "central_config", "mosquitto_direct_raw")}))
    raw = os.path.join(OUT, "drain-%s.json" % started.strftime("%Y%m%d-%H%M%S"))
    with open(raw, "w") as f:
        json.dump(results, f, indent=1)
    text = section(results, started, load)
    print(text)
    write_section(text)
    log("wrote the drain section of %s; raw: %s" % (os.path.relpath(RESULTS, ROOT), os.path.relpath(raw, ROOT)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
