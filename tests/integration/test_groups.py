"""Consumer groups: a shared subscription $share/<group>/<filter> on stream
topics assigns each partition to one live member, keeps order per partition,
moves partitions when members come and go, and keeps a committed cursor that
advances with the members' acknowledgements (QoS 1), so a group resumes where it
stopped: after members die, after the whole group left, after a daemon restart.
Shared subscriptions on topics in no stream stay round-robin.

Records are published with key = topic over 16 topics, so every one of the
four partitions gets some; payloads are "<topic>:<seq>" so each consumer's order
per key (a subset of partition order) can be checked in both MQTT versions;
MQTT 5 members also ask for stream-meta and check partition order by offset."""
import collections
import json
import signal
import time
import unittest
import urllib.request

from harness import PUBLISH, MqttTest, wait_for

V311, V5 = 4, 5
STREAM = ('[[stream]]\nname = "telemetry"\nsubjects = ["sensors/#"]\npartitions = 4\nkey = "topic"\n')
KEYS = ["sensors/k%02d" % i for i in range(16)]
GROUP_FILTER = "$share/workers/sensors/#"


def groups(d):
    with urllib.request.urlopen("http://%s/v1/groups" % d.addresses["admin"], timeout=10) as r:
        return json.loads(r.read().decode())


def group_view(d, name="workers"):
    for g in groups(d):
        if g["group"] == name:
            return g
    return None


def settled(d, members, name="workers"):
    """The group has exactly these members and every partition is owned, none moving."""
    g = group_view(d, name)
    return (g is not None and sorted(g["members"]) == sorted(members) and
            all(p["state"] == "owned" for p in g["partitions"]))


def metric(d, name):
    """The value of an unlabelled metric from /metrics."""
    with urllib.request.urlopen("http://%s/metrics" % d.addresses["admin"], timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    raise AssertionError("no %s in /metrics" % name)


def expired(d):
    return metric(d, "tributary_group_cursors_expired_total")


def read_ahead_bytes(d):
    return metric(d, "tributary_read_ahead_bytes")


def meta(p):
    """(partition, offset) of a stream record delivered with stream-meta; (None, None) otherwise."""
    up = dict(p.props.get("user", []))
    if "offset" not in up:
        return None, None
    return int(up["partition"]), int(up["offset"])


class Consumer:
    """One group member on a RawClient; records what it received and acked."""

    def __init__(self, client, version):
        self.c, self.v = client, version
        self.got = []      # (payload, partition, offset) in arrival order; partition None in 3.1.1
        self.acked = []    # payloads acknowledged
        self.held = []     # packets received and not acknowledged

    def poll(self, timeout, ack=True):
        try:
            p = self.c.expect(PUBLISH, timeout)
        except AssertionError:
            return None
        part, off = meta(p) if self.v == V5 else (None, None)
        self.got.append((p.payload.decode(), part, off))
        if ack:
            self.c.ack(p)
            self.acked.append(p.payload.decode())
        else:
            self.held.append(p)
        return p

    def check_order(self, test):
        last = {}
        for payload, part, off in self.got:
            key, seq = payload.rsplit(":", 1)
            test.assertGreater(int(seq), last.get(key, -1), "%s out of order at %s" % (key, payload))
            last[key] = int(seq)
        offs = collections.defaultdict(list)
        for _, part, off in self.got:
            if part is not None:
                offs[part].append(off)
        for part, o in offs.items():
            test.assertEqual(o, sorted(set(o)), "partition %d out of order or repeated" % part)


def collect(consumers, n, timeout=60):
    """Polls every consumer, acknowledging, until n records arrived in total."""
    deadline = time.monotonic() + timeout
    while sum(len(c.got) for c in consumers) < n:
        if time.monotonic() > deadline:
            raise AssertionError("got %d of %d records" % (sum(len(c.got) for c in consumers), n))
        for c in consumers:
            while c.poll(0.05):
                pass


class Groups(MqttTest):
    def member(self, d, version, cid, flt=GROUP_FILTER, props=None, qos=1, connect_props=None, **kw):
        c = self.client(d.port, version, cid, props=connect_props, **kw)
        if version == V5:
            props = props or {"user": [("stream-meta", "true")]}
            c.subscribe((flt, qos), props=props, expect=[qos])
        else:
            c.subscribe((flt, qos), expect=[qos])
        return Consumer(c, version)

    def publish(self, d, n, start=0, cid="pub"):
        pub = self.client(d.port, V5, cid)
        sent = []
        for i in range(start, start + n):
            topic = KEYS[i % len(KEYS)]
            payload = "%s:%d" % (topic, i)
            pub.publish(topic, payload, qos=1)
            sent.append(payload)
        pub.disconnect()
        return sent

    def test_three_members_four_partitions_exactly_once(self):
        for v in (V311, V5):
            with self.subTest(version=v):
                d = self.daemon(STREAM).start()
                members = [self.member(d, v, "m%d" % i) for i in range(3)]
                wait_for(lambda: settled(d, ["m0", "m1", "m2"]), 30, "three members own all partitions")
                view = group_view(d)
                owners = collections.Counter(p["owner"] for p in view["partitions"])
                self.assertEqual(sorted(owners.values()), [1, 1, 2], view)  # balanced
                sent = self.publish(d, 240)
                collect(members, len(sent))
                got = collections.Counter(p for m in members for p, _, _ in m.got)
                self.assertEqual(set(got), set(sent))
                self.assertEqual(set(got.values()), {1}, "a record was delivered twice")
                for m in members:
                    self.assertTrue(m.got, "a member got nothing")
                    m.check_order(self)
                    m.c.no_message(0.3)
                if v == V5:
                    # Each member got exactly the partitions the group says it owns.
                    owned = collections.defaultdict(set)
                    for p in view["partitions"]:
                        owned[p["owner"]].add(p["partition"])
                    for i, m in enumerate(members):
                        self.assertEqual({part for _, part, _ in m.got}, owned["m%d" % i])
                wait_for(lambda: all(p["committed"] == p["end_offset"] and p["lag_records"] == 0
                                     for p in group_view(d)["partitions"]), 20, "cursor at the end")
                with urllib.request.urlopen("http://%s/metrics" % d.addresses["admin"], timeout=10) as r:
                    metrics = r.read().decode()
                self.assertIn('tributary_group_lag_records{group="workers",filter="sensors/#",'
                              'stream="telemetry",partition="0"} 0', metrics)

    def test_narrower_filter_skips_other_records(self):
        # The group's filter covers part of the stream: it gets exactly its topics,
        # in order, and its cursor moves past the rest of each partition.
        d = self.daemon(STREAM).start()
        members = [self.member(d, V5, "n%d" % i, flt="$share/narrow/sensors/a/#") for i in range(2)]
        wait_for(lambda: settled(d, ["n0", "n1"], "narrow"), 30, "members")
        pub = self.client(d.port, V5, "npub")
        mine = []
        for i in range(160):
            topic = "sensors/%s/k%d" % ("ab"[i % 3 == 0], i % 8)  # a third go to sensors/b
            pub.publish(topic, "%s:%d" % (topic, i), qos=1)
            if topic.startswith("sensors/a/"):
                mine.append("%s:%d" % (topic, i))
        collect(members, len(mine))
        got = collections.Counter(p for m in members for p, _, _ in m.got)
        self.assertEqual(set(got), set(mine))
        self.assertEqual(set(got.values()), {1})
        for m in members:
            m.check_order(self)
            m.c.no_message(0.3)
        wait_for(lambda: all(p["lag_records"] == 0 for p in group_view(d, "narrow")["partitions"]), 20,
                 "cursor past the other topics")

    def test_qos0_member_cursor_advances_on_send(self):
        # QoS 0 members acknowledge nothing: a record counts as consumed once it
        # is written to the member, so the cursor follows what was sent.
        d = self.daemon(STREAM).start()
        m = self.member(d, V5, "q0", qos=0)
        wait_for(lambda: settled(d, ["q0"]), 30, "member")
        sent = self.publish(d, 40)
        collect([m], len(sent))
        self.assertEqual(sorted(p for p, _, _ in m.got), sorted(sent))
        wait_for(lambda: all(p["lag_records"] == 0 and p["inflight"] == 0
                             for p in group_view(d)["partitions"]), 20, "cursor at the end without acks")
        m.check_order(self)

    def test_killed_member_partitions_move_from_committed_cursor(self):
        for v in (V311, V5):
            with self.subTest(version=v):
                d = self.daemon(STREAM).start()
                a, b, c = (self.member(d, v, cid) for cid in ("a", "b", "c"))
                wait_for(lambda: settled(d, ["a", "b", "c"]), 30, "three members")
                sent = self.publish(d, 400)
                view = group_view(d)
                a_parts = {p["partition"] for p in view["partitions"] if p["owner"] == "a"}
                a_total = sum(p["end_offset"] for p in view["partitions"] if p["owner"] == "a")
                self.assertGreater(a_total, 1, view)
                # a takes its first window (64 in flight at most) and acknowledges half of it.
                window = min(64, a_total)
                for i in range(window):
                    self.assertIsNotNone(a.poll(10, ack=i < window // 2), "a got %d records" % i)
                wait_for(lambda: sum(p["committed"] for p in group_view(d)["partitions"]) == window // 2,
                         20, "a's acks committed")
                cursor = {p["partition"]: p["committed"] for p in group_view(d)["partitions"]}
                a.c.abort()  # no DISCONNECT: the broker sees the socket close
                wait_for(lambda: settled(d, ["b", "c"]), 30, "a's partitions moved")
                collect([b, c], len(sent) - len(a.acked))
                got = collections.Counter(p for m in (b, c) for p, _, _ in m.got)
                self.assertEqual(set(got.values()), {1}, "a survivor got a record twice")
                self.assertEqual(set(got), set(sent) - set(a.acked))  # a's unacked ones came again
                self.assertTrue(set(p.payload.decode() for p in a.held) <= set(got))
                for m in (b, c):
                    m.check_order(self)
                    m.c.no_message(0.3)
                if v == V5:
                    # The new owner of each of a's partitions started at its committed cursor.
                    for part in a_parts:
                        firsts = [next(off for _, pp, off in m.got if pp == part)
                                  for m in (b, c) if any(pp == part for _, pp, _ in m.got)]
                        self.assertEqual(len(firsts), 1, "partition %d went to both" % part)
                        self.assertEqual(firsts[0], cursor[part])

    def test_whole_group_restarts_and_resumes(self):
        for v in (V311, V5):
            with self.subTest(version=v):
                d = self.daemon(STREAM).start()
                first = [self.member(d, v, "g1-%d" % i) for i in range(2)]
                wait_for(lambda: settled(d, ["g1-0", "g1-1"]), 30, "two members")
                sent = self.publish(d, 100)
                collect(first, len(sent))
                wait_for(lambda: all(p["lag_records"] == 0 for p in group_view(d)["partitions"]), 20,
                         "all acknowledged")
                for m in first:
                    m.c.disconnect()
                wait_for(lambda: group_view(d) is None, 20, "the group to be left")
                later = self.publish(d, 60, start=100)
                second = [self.member(d, v, "g2-%d" % i) for i in range(3)]
                collect(second, len(later))
                got = collections.Counter(p for m in second for p, _, _ in m.got)
                self.assertEqual(set(got), set(later))  # nothing old, nothing missing
                self.assertEqual(set(got.values()), {1})
                for m in second:
                    m.check_order(self)
                    m.c.no_message(0.3)

    def test_cursors_of_a_group_gone_for_longer_than_the_expiry_are_deleted(self):
        """A group whose last subscriber left keeps its cursor for
        limits.group_cursor_expiry, across a daemon restart; after that its
        cursors are deleted, and a group of that name starts afresh (from the
        end, as a new group does) instead of replaying what came meanwhile."""
        d = self.daemon(STREAM + '[limits]\ngroup_cursor_expiry = "1h"\n').start()
        first = [self.member(d, V5, "e1-%d" % i) for i in range(2)]
        wait_for(lambda: settled(d, ["e1-0", "e1-1"]), 30, "two members")
        collect(first, len(self.publish(d, 40)))
        wait_for(lambda: all(p["lag_records"] == 0 for p in group_view(d)["partitions"]), 20,
                 "all acknowledged")
        for m in first:
            m.c.disconnect()
        wait_for(lambda: group_view(d) is None, 20, "the group to be left")
        self.publish(d, 30, start=40)  # what the group misses while it is gone
        self.assertEqual(expired(d), 0)
        d.stop()
        d.config_text = d.config_text.replace('"1h"', '"1s"')
        d.start()  # the idle time counts from the departure, not from this start
        wait_for(lambda: expired(d) == 1, 20, "the group's cursors to expire")
        self.assertIn("consumer group cursors g/workers/sensors/# expired", d.output())
        second = [self.member(d, V5, "e2-%d" % i) for i in range(2)]
        wait_for(lambda: settled(d, ["e2-0", "e2-1"]), 30, "two new members")
        later = self.publish(d, 20, start=70)
        collect(second, len(later))
        got = [p for m in second for p, _, _ in m.got]
        self.assertEqual(sorted(got), sorted(later))  # nothing of the 30 it missed
        # The group is back: its cursors are kept again.
        for m in second:
            m.c.no_message(0.3)
        time.sleep(2.5)
        self.assertEqual(expired(d), 1)

    def test_lag_in_seconds_is_the_age_of_the_oldest_unacknowledged_record(self):
        """/v1/groups and /metrics show, per partition, how old the oldest
        record the group has not acknowledged is; 0 once it caught up."""
        d = self.daemon(STREAM).start()
        m = self.member(d, V5, "lag-0")
        wait_for(lambda: settled(d, ["lag-0"]), 30, "the member")
        t0 = time.time()
        sent = self.publish(d, 8)
        while len(m.got) < len(sent):
            self.assertIsNotNone(m.poll(10, ack=False), "records did not arrive")
        time.sleep(2.5)

        def oldest():
            return max(p["lag_seconds"] for p in group_view(d)["partitions"])

        wait_for(lambda: oldest() >= 2.0, 10, "lag in seconds to show the held records' age")
        self.assertLessEqual(oldest(), time.time() - t0 + 1)
        with urllib.request.urlopen("http://%s/metrics" % d.addresses["admin"], timeout=10) as r:
            text = r.read().decode()
        self.assertIn('tributary_group_lag_seconds{group="workers",filter="sensors/#",stream="telemetry"',
                      text)
        for p in m.held:
            m.c.ack(p)
        wait_for(lambda: all(p["lag_records"] == 0 and p["lag_seconds"] == 0
                             for p in group_view(d)["partitions"]), 20, "the group to catch up")

    def test_daemon_restart_keeps_group_cursor(self):
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with self.subTest(signal=sig.name):
                d = self.daemon(STREAM).start()
                m = self.member(d, V5, "r1")
                wait_for(lambda: settled(d, ["r1"]), 30, "member")
                sent = self.publish(d, 50)
                collect([m], len(sent))
                wait_for(lambda: all(p["lag_records"] == 0 for p in group_view(d)["partitions"]), 20,
                         "acks processed")
                m.c.disconnect()
                wait_for(lambda: group_view(d) is None, 20, "the group to be left")
                later = self.publish(d, 30, start=50)
                if sig == signal.SIGTERM:
                    self.assertEqual(d.stop(), 0)
                else:
                    d.kill()
                d.start()
                # Exactly where it stopped, nothing old, nothing missing, also after SIGKILL:
                # the cursor went to storage when the group was left, before the later
                # records (acknowledged only after their commit, which comes after it).
                m2 = self.member(d, V311, "r2")
                collect([m2], len(later))
                self.assertEqual(sorted(p for p, _, _ in m2.got), sorted(later))
                m2.c.no_message(0.3)
                m2.check_order(self)

    def test_non_stream_topics_stay_round_robin(self):
        d = self.daemon(STREAM).start()
        flt = "$share/mixed/#"
        members = [self.member(d, V5 if i else V311, "rr%d" % i, flt=flt) for i in range(3)]
        wait_for(lambda: settled(d, ["rr0", "rr1", "rr2"], "mixed"), 30, "members")
        pub = self.client(d.port, V5, "rrpub")
        for i in range(30):
            pub.publish("other/k%d" % (i % 3), "other/k%d:%d" % (i % 3, i), qos=1)
        collect(members, 30)
        per_member = [len(m.got) for m in members]
        self.assertEqual(sum(per_member), 30)
        self.assertTrue(all(n > 0 for n in per_member), "round-robin skipped a member: %r" % per_member)
        # One key of a stream: one partition, one owner.
        for m in members:
            m.got.clear()
        for i in range(20):
            pub.publish("sensors/one", "sensors/one:%d" % i, qos=1)
        collect(members, 20)
        self.assertEqual(sorted(len(m.got) for m in members), [0, 0, 20])
        for m in members:
            m.check_order(self)

    def test_member_joining_later_gets_partitions(self):
        for v in (V311, V5):
            with self.subTest(version=v):
                d = self.daemon(STREAM).start()
                a = self.member(d, v, "early")
                wait_for(lambda: settled(d, ["early"]), 30, "first member")
                sent = self.publish(d, 80)
                collect([a], len(sent))
                b = self.member(d, v, "late")
                wait_for(lambda: settled(d, ["early", "late"]), 30, "partitions moved to the new member")
                view = group_view(d)
                self.assertEqual(sorted(collections.Counter(p["owner"] for p in view["partitions"]).values()),
                                 [2, 2])
                more = self.publish(d, 80, start=80)
                collect([a, b], len(sent) + len(more))
                got = collections.Counter(p for m in (a, b) for p, _, _ in m.got)
                self.assertEqual(set(got), set(sent + more))
                self.assertEqual(set(got.values()), {1}, "a record was delivered twice")
                self.assertTrue(b.got, "the late member got nothing")
                for m in (a, b):
                    m.check_order(self)

    def test_join_waits_for_records_in_flight(self):
        # A partition taken from a live member moves once that member acknowledged
        # what it holds, so nothing is delivered twice. (The member has a few
        # seconds to do so; past that the partition moves anyway and the records
        # come again, which the daemon logs: then only the weaker checks apply.)
        d = self.daemon(STREAM).start()
        a = self.member(d, V5, "holder")
        wait_for(lambda: settled(d, ["holder"]), 30, "first member")
        sent = self.publish(d, 200)
        for _ in range(64):
            self.assertIsNotNone(a.poll(10, ack=False))
        b = self.member(d, V5, "joiner")
        moving = [p for p in group_view(d)["partitions"] if p["state"] == "moving"]
        for p in a.held:
            a.c.ack(p)
            a.acked.append(p.payload.decode())
        wait_for(lambda: settled(d, ["holder", "joiner"]), 30, "partitions moved")
        collect([a, b], len(sent))
        a.c.no_message(0.3)
        b.c.no_message(0.1)
        got = collections.Counter(p for m in (a, b) for p, _, _ in m.got)
        self.assertEqual(set(got), set(sent))
        for m in (a, b):
            m.check_order(self)
        if "did not acknowledge" not in d.output():
            self.assertTrue(moving, "no partition waited for the holder's acknowledgements")
            self.assertTrue(all(p["moving_to"] == "joiner" for p in moving), moving)
            self.assertEqual(set(got.values()), {1}, "a record was delivered twice")

    def test_small_windows_read_ahead_and_partitions_move_without_it(self):
        # A member with a window of 8 catching up on 400 records: each read
        # takes more than the window and the rest is held (read-ahead) until
        # acks make room; a joining member takes partitions from the cursor,
        # not from what the first one held.
        d = self.daemon(STREAM).start()
        sent = self.publish(d, 400)
        props = {"user": [("replay", "earliest"), ("stream-meta", "true")]}
        a = self.member(d, V5, "small-a", props=props, connect_props={"receive_maximum": 8})
        for _ in range(8):
            self.assertIsNotNone(a.poll(10, ack=False))
        self.assertIsNone(a.poll(0.3, ack=False))  # the window is full
        self.assertGreater(read_ahead_bytes(d), 0)
        b = self.member(d, V5, "small-b", props=props, connect_props={"receive_maximum": 8})
        for p in a.held:
            a.c.ack(p)
            a.acked.append(p.payload.decode())
        collect([a, b], len(sent))
        got = collections.Counter(p for m in (a, b) for p, _, _ in m.got)
        self.assertEqual(set(got), set(sent))
        for m in (a, b):
            m.check_order(self)
        if "did not acknowledge" not in d.output():
            self.assertEqual(set(got.values()), {1}, "a record was delivered twice")
        self.assertTrue(b.got, "the joining member got no partition")
        wait_for(lambda: read_ahead_bytes(d) == 0, 10, "held reads to be released")

    def test_replay_position_for_a_new_group(self):
        for v in (V311, V5):
            with self.subTest(version=v):
                d = self.daemon(STREAM).start()
                old = self.publish(d, 40)
                # A new group starts at latest by default...
                fresh = self.member(d, v, "latest-1", flt="$share/fresh/sensors/#")
                fresh.c.no_message(0.5)
                # ...or where the subscription asks.
                if v == V5:
                    rep = self.member(d, v, "early-1", flt="$share/history/sensors/#",
                                      props={"user": [("replay", "earliest"), ("stream-meta", "true")]})
                else:
                    rep = self.member(d, v, "early-1", flt="$replay/earliest/$share/history/sensors/#")
                collect([rep], len(old))
                self.assertEqual(sorted(p for p, _, _ in rep.got), sorted(old))
                rep.check_order(self)
                # A group that exists continues from its cursor: a replay position does not rewind it.
                again = self.member(d, v, "early-2", flt="$replay/earliest/$share/history/sensors/#")
                wait_for(lambda: settled(d, ["early-1", "early-2"], "history"), 30, "two members")
                again.c.no_message(0.5)
                rep.c.no_message(0.1)

    def test_new_group_from_a_time(self):
        """A new group started at a time gets the records from that time on,
        and its stored cursor starts there too (the time is looked up by the
        first log read, off the event loop)."""
        d = self.daemon(STREAM).start()
        self.publish(d, 32)
        time.sleep(0.05)  # millisecond timestamps: keep the old records strictly older
        mid = int(time.time() * 1000)
        time.sleep(0.05)
        new = self.publish(d, 16, start=32, cid="pub2")
        at = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(mid // 1000)) + ".%03dZ" % (mid % 1000)
        m = self.member(d, V311, "t-1", flt="$replay/%s/$share/since/sensors/#" % at)
        collect([m], len(new))
        m.c.no_message(0.5)
        self.assertEqual(sorted(p for p, _, _ in m.got), sorted(new))
        m.check_order(self)
        # Every partition's committed cursor is past the old records.
        wait_for(lambda: sum(p["committed"] for p in group_view(d, "since")["partitions"]) == 48, 10,
                 "the group's cursors at the end")
        m.c.disconnect()
        # Back later: resumes from its cursor, not from the time again.
        more = self.publish(d, 4, start=48, cid="pub3")
        m2 = self.member(d, V311, "t-2", flt="$share/since/sensors/#")
        collect([m2], len(more))
        m2.c.no_message(0.5)
        self.assertEqual(sorted(p for p, _, _ in m2.got), sorted(more))

    def test_offline_persistent_member_gives_up_partitions(self):
        d = self.daemon(STREAM).start()
        keep = self.member(d, V5, "stay")
        away = self.member(d, V311, "away", clean=False)
        wait_for(lambda: settled(d, ["stay", "away"]), 30, "two members")
        away.c.disconnect()
        wait_for(lambda: settled(d, ["stay"]), 30, "partitions moved to the live member")
        sent = self.publish(d, 40)
        collect([keep], len(sent))
        self.assertEqual(sorted(p for p, _, _ in keep.got), sorted(sent))
        # Back online: it rejoins, takes half the partitions, gets only new records.
        back = Consumer(self.client(d.port, V311, "away", clean=False, expect_rc=None), V311)
        wait_for(lambda: settled(d, ["stay", "away"]), 30, "rejoined")
        more = self.publish(d, 40, start=40)
        collect([keep, back], len(sent) + len(more))
        self.assertTrue(back.got, "the returning member got nothing")
        got = collections.Counter(p for m in (keep, back) for p, _, _ in m.got)
        self.assertEqual(set(got), set(sent + more))
        self.assertEqual(set(got.values()), {1})


if __name__ == "__main__":
    unittest.main(verbosity=2)
