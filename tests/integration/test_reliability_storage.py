"""Storage under pressure, seen through MQTT and the admin API.

- The storage budget (storage.max_bytes, the LMDB map) fills up: with
  on_full = drop_oldest the daemon keeps accepting and drops the oldest
  records; with on_full = reject it answers 0x97 Quota exceeded (MQTT 5
  PUBACK / PUBREC) or disconnects (3.1.1, which has no negative ack), and it
  accepts again once retention by age frees space. Metrics count both.
- The file system itself fills up (a real ENOSPC on a small tmpfs mounted in
  a private mount namespace): the daemon stays up, acknowledges nothing it
  could not store, says why (log, /readyz, metrics), and recovers when space
  frees.
- fsync fails (EIO, injected by tests/shim/fsync_shim.c): the same, and no
  message published while syncs fail is acknowledged.

In every case nothing acknowledged is lost, checked by reading the stream
back (after a SIGKILL and restart where it matters)."""
import os
import shutil
import subprocess
import time
import unittest

from harness import PUBACK, PUBLISH, PUBREC, Closed, DaemonTest, RawClient, wait_for
from reliability import (EnvDaemon, http_get, metrics, replay_all, shim_env, storage_config,
                         streams)

V311, V5 = 4, 5
QUOTA_EXCEEDED = 0x97


def publish_burst(c, topic, payloads, qos=1):
    """Pipelines QoS 1/2 PUBLISH packets; returns {payload: reason code of its
    PUBACK/PUBREC} for those answered before the connection ended, and
    whether it ended (DISCONNECT or close)."""
    pids = {}
    out = b""
    for p in payloads:
        pid = c.pid()
        pids[pid] = p
        out += c.publish_packet(topic, p, qos=qos, pid=pid)
    answers = {}
    closed = False
    try:
        c.send(out)
        while len(answers) < len(pids):
            pkt = c.recv(30)
            if pkt.type in (PUBACK, PUBREC) and pkt.pid in pids:
                answers[pids[pkt.pid]] = pkt.rc
                if pkt.type == PUBREC and pkt.rc < 0x80:
                    c.send(c.ack_packet(6, pkt.pid))  # PUBREL
            elif pkt.type == 14:  # DISCONNECT
                closed = True
                break
    except (Closed, OSError):
        closed = True
    return answers, closed


def acked(answers):
    return {p for p, rc in answers.items() if rc < 0x80}


def wait_accepted(d, client_id, topic, payloads, timeout, what):
    """Publishes `payloads` from a fresh 5.0 client until all are acknowledged
    with success (storage recovering)."""
    def accepted():
        c = RawClient(d.port, V5, timeout=30)
        try:
            c.connect(client_id)
            ans, _ = publish_burst(c, topic, payloads)
            return len(ans) == len(payloads) and set(ans.values()) == {0}
        finally:
            c.close()
    wait_for(accepted, timeout, what)


class StorageBudgetFull(DaemonTest):
    def test_drop_oldest_keeps_accepting_and_counts_drops(self):
        d = self.daemon()
        d.config_text = (storage_config(d.data_dir, "none", 'max_bytes = "2MiB"\n') +
                         '[[stream]]\nname = "ring"\nsubjects = ["ring/#"]\non_full = "drop_oldest"\n')
        d.start()
        for v in (V311, V5):
            c = RawClient(d.port, v, timeout=30)
            c.connect("ring-%d" % v)
            for burst in range(8):  # 8 x 32 x 16 KiB = 4 MiB per version, twice the budget
                payloads = [b"%d-%d-%d-" % (v, burst, i) + b"x" * 16384 for i in range(32)]
                answers, closed = publish_burst(c, "ring/a", payloads)
                self.assertFalse(closed, "drop_oldest must not disconnect")
                self.assertEqual(set(answers.values()), {0}, "every message acknowledged")
            c.close()
        m = metrics(d)
        self.assertGreater(m["tributary_storage_dropped_records_total"], 0)
        self.assertEqual(m["tributary_storage_rejected_records_total"], 0)
        self.assertLessEqual(m["tributary_storage_used_bytes"], m["tributary_storage_budget_bytes"])
        (s,) = streams(d)
        part = s["partitions"][0]
        self.assertGreater(part["start_offset"], 0, "the oldest records were dropped")
        records, _ = replay_all(d, "ring", "ring/#")
        stored = [r[3] for r in records]
        # What is left is the newest, in order: the last message is there.
        self.assertIn(b"5-7-31-" + b"x" * 16384, stored)
        self.assertEqual(len(stored), part["end_offset"] - part["start_offset"])
        self.assertEqual(d.stop(), 0)

    def test_reject_answers_quota_exceeded_then_recovers_after_retention(self):
        d = self.daemon()
        d.config_text = (storage_config(d.data_dir, "none", 'max_bytes = "2MiB"\n') +
                         '[[stream]]\nname = "strict"\nsubjects = ["strict/#"]\non_full = "reject"\n'
                         'max_age = "10s"\n')
        d.start()
        # Fill until the budget refuses: a few bursts fill 2 MiB long before
        # retention by age (10 s) frees anything.
        c = RawClient(d.port, V5, timeout=30)
        c.connect("strict-5")
        codes = {}
        n = 0
        deadline = time.monotonic() + 120
        while QUOTA_EXCEEDED not in codes.values():
            self.assertLess(time.monotonic(), deadline, "the budget never filled")
            payloads = [b"f-%d-" % (n + i) + b"y" * 32768 for i in range(16)]
            n += 16
            answers, closed = publish_burst(c, "strict/a", payloads)
            self.assertFalse(closed, "5.0 publishers get a reason code, not a disconnect")
            codes.update(answers)
        self.assertEqual(set(codes.values()) - {0, QUOTA_EXCEEDED}, set())
        # QoS 2 is refused at PUBREC with the same code. (The policy applies
        # per commit: a smaller round may still fit where a burst did not.)
        for i in range(64):
            q2 = b"q2-%d-" % i + b"z" * 32768
            answers, closed = publish_burst(c, "strict/a", [q2], qos=2)
            self.assertFalse(closed)
            if answers[q2] == QUOTA_EXCEEDED:
                break
            self.assertEqual(answers[q2], 0)
        self.assertEqual(answers[q2], QUOTA_EXCEEDED)
        c.close()
        self.assertGreater(metrics(d)["tributary_storage_rejected_records_total"], 0)

        # 3.1.1 cannot say no: the publisher is disconnected. Its QoS 2 resend
        # after reconnecting (same packet id, DUP) is not acknowledged unless
        # it is stored this time.
        c3 = RawClient(d.port, V311, timeout=30)
        c3.connect("strict-3", clean=False)
        for i in range(64):
            big = b"v3-%d-" % i + b"w" * 32768
            answers, closed = publish_burst(c3, "strict/a", [big], qos=2)
            if closed:
                break
            self.assertEqual(answers[big], 0)
        self.assertTrue(closed, "3.1.1: disconnected when refused")
        self.assertEqual(answers, {}, "3.1.1: closed without an answer")
        refused_pid = c3.next_pid - 1 or 65535
        c3.close()
        c3 = RawClient(d.port, V311, timeout=30)
        self.assertEqual(c3.connect("strict-3", clean=False).session_present, 1)
        c3.send(c3.publish_packet("strict/a", big, qos=2, pid=refused_pid, dup=True))
        try:
            rec = c3.expect(PUBREC, 5)
        except (AssertionError, Closed):
            rec = None
        c3.close()
        if rec is not None:
            records, _ = replay_all(d, "strict", "strict/#", client_id="check-resend")
            self.assertTrue(big in [r[3] for r in records], "PUBREC for a resend that was not stored")
        self.assertIsNone(d.proc.poll())

        # Retention by age frees space: a burst as big as the refused ones is
        # accepted again.
        wait_for(lambda: metrics(d)["tributary_storage_retention_deleted_records_total"] > 0, 120,
                 "retention by age")
        burst = [b"after-%d-" % i + b"y" * 32768 for i in range(16)]
        wait_accepted(d, "strict-again", "strict/a", burst, 120, "a full burst accepted after retention freed space")
        records, _ = replay_all(d, "strict", "strict/#")
        stored = {r[3] for r in records}
        self.assertTrue(all(b in stored for b in burst), "acknowledged after recovery, not stored")
        self.assertEqual(d.stop(), 0)


def can_unshare_mount():
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return "needs root and unshare(1) to mount a private tmpfs"
    r = subprocess.run(["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /mnt && umount /mnt"],
                       capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        return "cannot mount a tmpfs in a private mount namespace here: " + (r.stderr.strip() or "unknown")
    return None


NO_TMPFS = can_unshare_mount()


class FileSystemFull(DaemonTest):
    @unittest.skipIf(NO_TMPFS is not None, NO_TMPFS or "")
    def test_real_enospc_on_tmpfs_stops_acks_and_recovers_when_space_frees(self):
        d = EnvDaemon()
        self.daemons.append(d)
        mnt = os.path.join(d.workdir, "mnt")
        d.data_dir = os.path.join(mnt, "data")
        ballast = os.path.join(mnt, "ballast")
        # A 12 MiB file system, 8 MiB of it taken by a ballast file; the
        # storage budget (64 MiB) is far above what the disk can hold.
        d.command_prefix = ["unshare", "-m", "sh", "-c",
                            'mkdir -p "$0" && mount -t tmpfs -o size=12m tmpfs "$0" && mkdir "$0/data" && '
                            'head -c 8388608 /dev/zero > "$0/ballast" && exec "$@"', mnt]
        d.config_text = storage_config(d.data_dir, "always", 'max_bytes = "64MiB"\n') + \
            '[[stream]]\nname = "disk"\nsubjects = ["disk/#"]\n'
        d.start()
        good = set()
        c = RawClient(d.port, V5, timeout=30)
        c.connect("filler")
        closed = False
        n = 0
        deadline = time.monotonic() + 180
        while not closed:
            self.assertLess(time.monotonic(), deadline, "the file system never filled")
            answers, closed = publish_burst(c, "disk/a", [b"d-%d-" % (n + i) + b"k" * 16384 for i in range(32)])
            n += 32
            self.assertEqual(set(answers.values()) - {0}, set(), "no negative ack: a disconnect")
            good |= acked(answers)
        c.close()
        self.assertIsNone(d.proc.poll(), "tributaryd died on ENOSPC:\n" + d.output()[-3000:])
        status, body = http_get(d, "/readyz")
        self.assertEqual(status, 503)
        self.assertIn("storage failing", body)
        # LMDB reports a short write (what ENOSPC usually looks like) as EIO.
        self.assertRegex(body, "No space left on device|Input/output error")
        m = metrics(d)
        # Not failing == 1: a later commit small enough for the pages LMDB
        # already has in its file can succeed before space frees, and the
        # daemon is then ready again by design (seen once in make test).
        self.assertGreater(m["tributary_storage_failures_total"], 0)
        # Space frees (seen through the daemon's own mount namespace).
        os.unlink("/proc/%d/root%s" % (d.proc.pid, ballast))
        wait_accepted(d, "after-free", "disk/a", [b"after-free"], 120, "a publish accepted once space freed")
        good.add(b"after-free")
        wait_for(lambda: http_get(d, "/readyz")[0] == 200, 30, "ready again")
        self.assertEqual(metrics(d)["tributary_storage_failing"], 0)
        records, _ = replay_all(d, "disk", "disk/#")
        missing = good - {r[3] for r in records}
        self.assertEqual(sorted(m[:12] for m in missing)[:10], [], "%d acknowledged messages lost" % len(missing))
        self.assertEqual(d.stop(), 0)


class FsyncFailure(DaemonTest):
    """fsync/fdatasync fail with EIO while the shim's trigger file exists.

    What the daemon does (README, "Reliability"): a failed commit or sync
    fails every submission that depended on it; their publishers are
    disconnected (5.0: DISCONNECT 0x80 "storage failure") so they keep their
    messages and resend; /readyz answers 503 with the reason; the error is
    logged and counted. Storage is retried by the next commit, and the first
    one that syncs makes the daemon acknowledge and ready again."""

    def test_eio_stops_acks_says_why_loses_nothing_and_recovers(self):
        d = EnvDaemon()
        self.daemons.append(d)
        trigger = os.path.join(d.workdir, "fsync-trigger")
        d.env = shim_env(trigger, os.path.join(d.workdir, "fsync-shim.log"))
        d.config_text = storage_config(d.data_dir, "always") + '[[stream]]\nname = "s"\nsubjects = ["s/#"]\n'
        d.start()
        good = set()
        c = RawClient(d.port, V5, timeout=30)
        c.connect("before")
        for burst in range(4):  # below the receive maximum (64) each time
            answers, closed = publish_burst(c, "s/a", [b"before-%d-%d" % (burst, i) for i in range(50)])
            self.assertFalse(closed)
            good |= acked(answers)
        self.assertEqual(len(good), 200)

        with open(trigger, "w") as f:
            f.write("EIO\n")
        # A publisher in full flow when syncs start failing: disconnected with
        # a reason, never a negative ack.
        disconnect = None
        n = 0
        while disconnect is None:
            pids = {}
            out = b""
            for i in range(32):
                pid = c.pid()
                pids[pid] = b"during-%d" % (n + i)
                out += c.publish_packet("s/a", pids[pid], qos=1, pid=pid)
            n += 32
            try:
                c.send(out)
                while pids:
                    p = c.recv(30)
                    if p.type == PUBACK:
                        self.assertEqual(p.rc, 0, "no negative ack")
                        good.add(pids.pop(p.pid))
                    elif p.type == 14:
                        disconnect = p
                        break
            except (Closed, OSError):
                self.fail("closed without DISCONNECT")
        c.close()
        self.assertEqual(disconnect.rc, 0x80)
        self.assertIn("storage failure", disconnect.props.get("reason_string", ""))
        self.assertIsNone(d.proc.poll())
        status, body = http_get(d, "/readyz")
        self.assertEqual(status, 503)
        self.assertIn("storage failing", body)
        self.assertIn("Input/output error", body)
        self.assertIn("Input/output error", d.output())
        m = metrics(d)
        # Not failing == 1: a later commit small enough for the pages LMDB
        # already has in its file can succeed before space frees, and the
        # daemon is then ready again by design (seen once in make test).
        self.assertGreater(m["tributary_storage_failures_total"], 0)
        # While syncs fail, nothing new is acknowledged, at either QoS or version.
        for v in (V311, V5):
            for qos in (1, 2):
                c = RawClient(d.port, v, timeout=30)
                c.connect("while-failing-%d-%d" % (v, qos))
                answers, closed = publish_burst(c, "s/a", [b"while-%d-%d" % (v, qos)], qos=qos)
                c.close()
                self.assertEqual(acked(answers), set(), "acknowledged while fsync fails")
                self.assertTrue(closed)

        os.unlink(trigger)  # the disk works again
        wait_accepted(d, "after", "s/a", [b"after-eio"], 60, "acknowledgements once fsync works")
        good.add(b"after-eio")
        wait_for(lambda: http_get(d, "/readyz")[0] == 200, 30, "ready again")
        # Everything acknowledged survives a crash.
        d.kill()
        d.start()
        records, _ = replay_all(d, "s", "s/#")
        missing = good - {r[3] for r in records}
        self.assertEqual(sorted(m[:12] for m in missing)[:10], [], "%d acknowledged messages lost" % len(missing))
        self.assertEqual(d.stop(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
