#!/usr/bin/env python3
"""Replay benchmark: how fast Tributary serves a stored stream to consumers,
against its own QoS 0 ingest rate measured in the same run.

Called by bench/run.sh (`make bench`) after compare.py. Each round:
  1. QoS 0 ingest on a fresh broker: compare.py's scenario and configuration,
     unchanged (the target: replay should be at least this fast).
  2. A fresh broker with the replay configuration (stream "bench", 4
     partitions, key = client id) is filled by 16 publishers with N QoS 1
     records of 100 B (acknowledged = committed).
  3. On that stored stream, loadgen --consume reads all N records:
     - one consumer, $replay/earliest/bench/#, QoS 0 subscription;
     - one consumer, the same with QoS 1 (acknowledging every record);
     - a consumer group of 4 (a new group per round):
       $replay/earliest/$share/<group>/bench/#, QoS 1.
It prints a table and writes its section of bench/RESULTS.md (between the
replay markers; appended when missing). Never asserts; problems (missing or
duplicated records, reordering, a broker gone) are listed under Anomalies.

Environment: BENCH_BIN_DIR, BENCH_ROUNDS (3), BENCH_SECONDS (5, for the QoS 0
ingest run), BENCH_REPLAY_RECORDS (1000000), BENCH_RESULTS.
"""
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402  (shares the broker runner, loadgen runner and machine info)

RECORDS = int(os.environ.get("BENCH_REPLAY_RECORDS", "1000000"))
PUBLISHERS = 16
RUN_ID = 20261122
BEGIN, END = "<!-- replay-benchmark -->", "<!-- end replay-benchmark -->"
anomalies = []


class ReplayTributary(compare.Tributary):
    def config_text(self, data_dir):
        # sync = "none": how the stream was written does not matter for reading it,
        # and it keeps the fill short. Everything else is compare.py's configuration.
        text = super().config_text(data_dir).replace('sync = "always"', 'sync = "none"')
        return text + "partitions = 4\n"

    def anon_kib(self):
        """RssAnon: the broker's own memory, without the LMDB file pages it has mapped."""
        return self.proc_field("status", lambda t: int(t.split("RssAnon:")[1].split()[0]))

    def admin(self, path):
        ready = os.path.join(self.workdir, "ready")
        addr = [l.split()[1] for l in open(ready) if l.startswith("admin ")][0]
        with urllib.request.urlopen("http://%s%s" % (addr, path), timeout=10) as r:
            return json.loads(r.read().decode())


def fill_args():
    return ["--payload", str(compare.PAYLOAD), "--mqtt", "3", "-P", str(PUBLISHERS), "-q", "1",
            "-w", "64", "-n", str(RECORDS), "--run-id", str(RUN_ID), "--client-prefix", "fill-"]


def consume_args(name, subscribers, flt, qos):
    return ["--mqtt", "3", "-P", str(PUBLISHERS), "-S", str(subscribers), "--consume", str(RECORDS),
            "--run-id", str(RUN_ID), "-f", flt, "--sub-qos", str(qos), "--client-prefix", name + "-",
            "--timeout", "600"]


# (key, label, subscribers, filter (with {round}), QoS)
CONSUMERS = [
    ("replay1_q0", "Replay from earliest, 1 consumer, QoS 0", 1, "$replay/earliest/bench/#", 0),
    ("replay1_q1", "Replay from earliest, 1 consumer, QoS 1", 1, "$replay/earliest/bench/#", 1),
    ("group4_q1", "Consumer group of 4 over 4 partitions, QoS 1", 4,
     "$replay/earliest/$share/bench{round}/bench/#", 1),
]


def consume(b, key, subs, flt, qos, rnd):
    args = consume_args("%s-%d" % (key, rnd), subs, flt.format(round=rnd), qos)
    compare.wait_idle(b)
    cpu0, rss0 = b.cpu_s(), b.anon_kib()
    rec, cmd = compare.run_loadgen(b, args, timeout=900)
    rec.update({"scenario": key, "round": rnd, "broker": "tributary",
                "command": " ".join(compare.shlex.quote(a) for a in compare.loadgen_args("PORT", args))})
    if b.alive():
        cpu1 = b.cpu_s()
        rec["broker_cpu_s"] = None if None in (cpu0, cpu1) else cpu1 - cpu0
        rec["anon_before_kib"], rec["anon_after_kib"] = rss0, b.anon_kib()
    problems = []
    if not b.alive():
        problems.append("tributaryd exited (log ends: %s)" % b.log_tail())
    if "error" in rec:
        problems.append(rec["error"])
    else:
        dups = rec.get("received", 0) - rec.get("unique_total", 0)
        if rec.get("missing") or dups or rec.get("reordered") or rec.get("timed_out"):
            problems.append("missing=%s duplicates=%s reordered=%s timed_out=%s errors=%s" % (
                rec.get("missing"), dups, rec.get("reordered"), rec.get("timed_out"), rec.get("errors")))
    rec["valid"] = b.alive() and "error" not in rec and not rec.get("missing") and \
        not rec.get("timed_out")
    if problems:
        anomalies.append(("%s round %d: %s; broker log %s" % (key, rnd, "; ".join(problems), b.log_path),
                          compare.repro(b, cmd)))
    return rec


def replay_round(rnd, workdir, keep):
    compare.log("== replay round %d: QoS 0 ingest (the target)" % rnd)
    q0 = [s for s in compare.scenarios() if s[0] == "qos0_ingest"][0]
    keep(compare.measure(compare.Tributary, q0[0], q0[2], rnd, workdir))
    b = ReplayTributary(workdir).start("replay-%d" % rnd)
    try:
        compare.log("== replay round %d: filling %d records" % (rnd, RECORDS))
        t = time.monotonic()
        rec, cmd = compare.run_loadgen(b, fill_args(), timeout=1800)
        rec.update({"scenario": "fill", "round": rnd, "broker": "tributary", "fill_s": time.monotonic() - t})
        try:
            rec["partitions"] = [p["end_offset"] for s in b.admin("/v1/streams") if s["name"] == "bench"
                                 for p in s["partitions"]]
        except (OSError, ValueError, IndexError, KeyError) as e:
            rec["partitions"] = "admin API: %s" % e
        keep(rec)
        if rec.get("acked") != RECORDS:
            anomalies.append(("fill round %d: %s of %d acknowledged (%s)" % (
                rnd, rec.get("acked"), RECORDS, rec.get("error") or rec.get("errors")), compare.repro(b, cmd)))
            return
        for key, label, subs, flt, qos in CONSUMERS:
            compare.log("== replay round %d: %s" % (rnd, label))
            keep(consume(b, key, subs, flt, qos, rnd))
    finally:
        b.stop()
        b.cleanup()


def summary(records, scenario, fn):
    vals = [fn(r) for r in records if r.get("scenario") == scenario and r.get("valid", True)]
    vals = [v for v in vals if v is not None]
    if not vals:
        return None
    return statistics.median(vals), min(vals), max(vals), len(vals)


def fmt(s, f="%.0f"):
    if s is None:
        return "n/a"
    med, lo, hi, n = s
    text = f % med if lo == hi else "%s (%s-%s)" % (f % med, f % lo, f % hi)
    return text if n >= compare.ROUNDS else text + " [n=%d]" % n


def per_million(r):
    c = r.get("broker_cpu_s")
    return None if c is None else c / (RECORDS / 1e6)


def rows(records):
    target = summary(records, "qos0_ingest", lambda r: r.get("ingest_msgs_per_s"))
    out = [("QoS 0 ingest, 8 pub, 100 B (msgs/s): the target", fmt(target), "1.00")]
    for key, label, _, _, _ in CONSUMERS:
        s = summary(records, key, lambda r: r.get("consumed_msgs_per_s"))
        ratio = "%.2f" % (s[0] / target[0]) if s and target and target[0] else "n/a"
        out.append(("%s (records/s)" % label, fmt(s), ratio))
        out.append(("  broker CPU s per 1M records", fmt(summary(records, key, per_million), "%.2f"), ""))
        out.append(("  broker anonymous memory after (RssAnon, KiB)",
                    fmt(summary(records, key, lambda r: r.get("anon_after_kib"))), ""))
    fill = summary(records, "fill", lambda r: r.get("acked_msgs_per_s"))
    out.append(("Fill: QoS 1, 16 pub, sync none (msgs/s)", fmt(fill), ""))
    return out


def section(table, records, started, elapsed):
    L = [BEGIN, "## Replay and consumer groups (bench/replay.py)\n"]
    mach = compare.machine()
    L.append("Written by `make bench` on %s, in %.0f s; load average at the end: %s. "
             "%d rounds; median (min-max); ratio = median / the QoS 0 ingest median of the same "
             "run.\n" % (started, elapsed, mach["load"], compare.ROUNDS))
    L.append("| metric | Tributary | vs QoS 0 ingest |")
    L.append("| --- | ---: | ---: |")
    for r in table:
        L.append("| %s | %s | %s |" % r)
    L.append("")
    parts = [r.get("partitions") for r in records if r.get("scenario") == "fill"]
    groups = [r.get("per_subscriber") for r in records if r.get("scenario") == "group4_q1"]
    L.append("Records per partition after the fill (key = client id of 16 publishers): %s. "
             "Records per group member: %s.\n" % (parts[0] if parts else "n/a", groups))
    L.append("What was run, per round (`build/release/bin`):\n")
    L.append("```")
    L.append("# QoS 0 ingest: compare.py's qos0_ingest scenario on its configuration (a fresh broker)")
    L.append("# then a fresh tributaryd with:")
    L.extend(ReplayTributary(compare.OUT).config_text("<fresh dir>").rstrip().split("\n"))
    L.append(" ".join(compare.loadgen_args("PORT", fill_args())))
    seen = set()
    for r in records:
        if r.get("scenario") in {c[0] for c in CONSUMERS} and r["scenario"] not in seen:
            seen.add(r["scenario"])
            L.append(r["command"])
    L.append("```\n")
    L.append("- Rate: distinct records received / time from the first connect to the last record "
             "(loadgen `consumed_msgs_per_s`); every run must see all %d records, none twice, in "
             "order per publisher (one publisher = one key = one partition)." % RECORDS)
    L.append("- QoS 1 consumers acknowledge every record; the broker keeps at most "
             "`limits.max_inflight` (64) unacknowledged per consumer, so QoS 1 replay is bound by "
             "that window and the round trip. QoS 0 is bound by the output buffer "
             "(`limits.max_output_bytes`) and the consumer.")
    L.append("- Memory: RssAnon of the broker after each run (VmRSS would count the pages of the "
             "LMDB file the reads mapped). Replay memory does not grow with the stream: a lagging "
             "reader holds at most one read (%s records / 256 KiB) at a time." % "256")
    L.append("- The group's 4 members join one after the other: the first takes every partition "
             "until the others arrive, then partitions move (after the in-flight records are "
             "acknowledged, so nothing is delivered twice).\n")
    if anomalies:
        L.append("Anomalies:\n")
        for text, cmds in anomalies:
            L.append("- " + text)
            L.append("  ```\n" + "\n".join("  " + c for c in cmds) + "\n  ```")
    else:
        L.append("Anomalies: none (no missing, duplicated or reordered record, no broker failure).")
    L.append(END)
    return "\n".join(L) + "\n"


def write_section(text):
    try:
        old = open(compare.RESULTS).read()
    except OSError:
        old = ""
    if BEGIN in old and END in old:
        new = old[:old.index(BEGIN)] + text + old[old.index(END) + len(END) + 1:]
    else:
        new = old.rstrip("\n") + "\n\n" + text
    with open(compare.RESULTS, "w") as f:
        f.write(new)


def main():
    for exe in (compare.TRIBUTARYD, compare.LOADGEN):
        if not os.access(exe, os.X_OK):
            compare.log("bench: %s not built" % exe)
            return 1
    os.makedirs(os.path.join(compare.OUT, "logs"), exist_ok=True)
    started = time.strftime("%Y-%m-%d %H:%M %Z")
    t0 = time.monotonic()
    workdir = tempfile.mkdtemp(prefix="replay-", dir=compare.OUT)
    raw_path = os.path.join(compare.OUT, "replay-%s.jsonl" % time.strftime("%Y%m%d-%H%M%S"))
    records = []
    with open(raw_path, "w") as raw:
        def keep(rec):
            records.append(rec)
            raw.write(json.dumps(rec) + "\n")
            raw.flush()
        for rnd in range(1, compare.ROUNDS + 1):
            try:
                replay_round(rnd, workdir, keep)
            except Exception as e:  # a benchmark reports, it does not stop
                anomalies.append(("replay round %d: %s" % (rnd, e), []))
    anomalies.extend(compare.anomalies)
    compare.shutil.rmtree(workdir, ignore_errors=True)
    table = rows(records)
    print()
    for r in table:
        print("%-58s %-32s %s" % r)
    write_section(section(table, records, started, time.monotonic() - t0))
    for text, _ in anomalies:
        print(" - " + text)
    print("\nwrote the replay section of %s; raw: %s" % (os.path.relpath(compare.RESULTS, compare.ROOT),
                                                         os.path.relpath(raw_path, compare.ROOT)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
