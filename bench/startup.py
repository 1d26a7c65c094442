#!/usr/bin/env python3
"""Startup time to READY with a 1 GiB log (issue: "startup time to READY with a
1 GiB log"). Fills a fresh data directory with QoS 0 traffic from loadgen until
data.mdb passes BENCH_STARTUP_BYTES (1 GiB), stops the daemon (SIGTERM), then
starts it BENCH_ROUNDS times and reports the time from exec to the ready file
(listeners bound, storage open, sessions and retained messages loaded).
Prints one JSON line; never fails on a number."""
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import RESULTS, replace_section  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BIN = os.environ.get("BENCH_BIN_DIR", os.path.join(ROOT, "build/release/bin"))
TARGET = int(os.environ.get("BENCH_STARTUP_BYTES", str(1 << 30)))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))


def start(conf, ready):
    if os.path.exists(ready):
        os.unlink(ready)
    t0 = time.monotonic()
    p = subprocess.Popen([os.path.join(BIN, "tributaryd"), "--config", conf, "--ready-file", ready],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not os.path.exists(ready):
        if p.poll() is not None:
            raise RuntimeError("tributaryd exited with %d" % p.returncode)
        if time.monotonic() - t0 > 120:
            raise RuntimeError("not ready within 120 s")
        time.sleep(0.002)
    return p, time.monotonic() - t0


def port_of(ready):
    for line in open(ready):
        kind, addr = line.split()
        if kind == "mqtt":
            return int(addr.rsplit(":", 1)[1])
    raise RuntimeError("no mqtt listener in the ready file")


def write_section(out):
    L = ["## Startup to READY (bench/startup.py)", ""]
    L.append("Written by `make bench` on %s. A data directory filled with %.2f GiB of log (QoS 0, 200 B "
             "payloads, 4 partitions, in %.1f s), then tributaryd started %d times: time from exec to the "
             "ready file (storage open, sessions and retained messages loaded, listeners bound)."
             % (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), out["log_bytes"] / (1 << 30),
                out["fill_s"], ROUNDS))
    L.append("")
    L.append("| page cache | READY (s), median | rounds (s) |")
    L.append("| --- | ---: | --- |")
    for label, what in (("warm", "warm (file cached)"), ("cold", "cold (after drop_caches)")):
        if label + "_ready_s" in out:
            L.append("| %s | %.3f | %s |" % (what, out[label + "_ready_s_median"],
                                            " ".join("%.3f" % t for t in out[label + "_ready_s"])))
        elif label in out:
            L.append("| %s | %s | |" % (what, out[label]))
    L.append("")
    L.append("Startup maps the file and reads the meta pages, the catalog, the ends of each partition, "
             "sessions and retained messages, not the log's records.")
    replace_section(RESULTS, L[0], "\n".join(L))


def main():
    work = tempfile.mkdtemp(prefix="trib-startup-")
    data = os.path.join(work, "data")
    os.makedirs(data)
    conf = os.path.join(work, "t.toml")
    ready = os.path.join(work, "ready")
    with open(conf, "w") as f:
        f.write('[storage]\ndir = "%s"\nsync = "none"\nmax_bytes = "%dMiB"\n'
                '[[listener]]\nbind = "127.0.0.1:0"\n[admin]\nbind = "127.0.0.1:0"\n'
                '[[stream]]\nname = "bench"\nsubjects = ["#"]\npartitions = 4\n' % (data, TARGET * 2 >> 20))
    p, _ = start(conf, ready)
    port = port_of(ready)
    mdb = os.path.join(data, "data.mdb")
    fill_t0 = time.monotonic()
    while os.path.getsize(mdb) < TARGET:
        subprocess.run([os.path.join(BIN, "loadgen"), "--port", str(port), "-P", "4", "-q", "0",
                        "--payload", "200", "-n", "2000000"], stdout=subprocess.DEVNULL, check=False, timeout=600)
    fill_s = time.monotonic() - fill_t0
    p.send_signal(signal.SIGTERM)
    p.wait(60)
    size = os.path.getsize(mdb)
    out = {"log_bytes": size, "fill_s": round(fill_s, 1)}
    # Warm: the file in the page cache. Cold: after dropping the page cache
    # (needs root; skipped when not permitted).
    for label in ("warm", "cold"):
        times = []
        for _ in range(ROUNDS):
            subprocess.run(["sync"])
            if label == "cold":
                try:
                    with open("/proc/sys/vm/drop_caches", "w") as f:
                        f.write("3\n")
                except OSError as e:
                    out["cold"] = "skipped: %s" % e
                    break
            p, t = start(conf, ready)
            times.append(t)
            p.send_signal(signal.SIGTERM)
            p.wait(60)
        if times:
            out[label + "_ready_s"] = [round(t, 3) for t in times]
            out[label + "_ready_s_median"] = round(statistics.median(times), 3)
    print(json.dumps(out))
    write_section(out)
    subprocess.run(["rm", "-rf", work])
    return 0


if __name__ == "__main__":
    sys.exit(main())
