"""Security with real clients: TLS listeners (certificates generated at test
time: CA, server, client, expired, wrong host, other CA), client certificates
and identity as user name, password file, ACL matrix in both versions, limits,
garbage on the TLS port, and SIGHUP reload of the password file."""
import os
import shutil
import re
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import unittest
import urllib.request

from harness import (BIN_DIR, PUBLISH, MqttTest, RawClient, raw, run, wait_for)

TOOL = os.path.join(BIN_DIR, "tributary")
STREAM = '[[stream]]\nname = "t"\nsubjects = ["#"]\n'


def openssl(*args, cwd):
    r = subprocess.run(["openssl"] + list(args), cwd=cwd, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise AssertionError("openssl %s: %s" % (" ".join(args), r.stderr))


class Certs:
    """A throw-away PKI in a temp dir. Nothing here is ever committed."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="trib-pki-")
        d = self.dir
        for ca in ("ca", "otherca"):
            openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", ca + ".key", "-out", ca + ".crt", "-days", "2", "-subj", "/CN=Test " + ca, cwd=d)
        self.leaf("server", "/CN=localhost", "subjectAltName=DNS:localhost,IP:127.0.0.1")
        self.leaf("wronghost", "/CN=elsewhere.example", "subjectAltName=DNS:elsewhere.example")
        self.leaf("client", "/CN=device-1", None)
        self.leaf("expired", "/CN=device-old", None, expired=True)
        self.leaf("stranger", "/CN=device-x", None, ca="otherca")

    def leaf(self, name, subj, san, expired=False, ca="ca"):
        d = self.dir
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                name + ".key", "-out", name + ".csr", "-subj", subj, cwd=d)
        ext = os.path.join(d, name + ".ext")
        with open(ext, "w") as f:
            f.write((san + "\n") if san else "basicConstraints=CA:FALSE\n")
        args = ["x509", "-req", "-in", name + ".csr", "-CA", ca + ".crt", "-CAkey", ca + ".key",
                "-CAcreateserial", "-out", name + ".crt", "-extfile", ext]
        # An expired certificate: -days -1 puts notAfter a day before notBefore.
        args += ["-days", "-1" if expired else "2"]
        openssl(*args, cwd=d)

    def path(self, name):
        return os.path.join(self.dir, name)


def tls_listener(certs, server="server", require=False, identity=False):
    return ('[[listener]]\nbind = "127.0.0.1:0"\ntls = { cert = "%s", key = "%s", ca = "%s", '
            'require_client_cert = %s, use_identity_as_username = %s }\n'
            % (certs.path(server + ".crt"), certs.path(server + ".key"), certs.path("ca.crt"),
               "true" if require else "false", "true" if identity else "false"))


def metrics(d):
    with urllib.request.urlopen("http://%s/metrics" % d.addresses["admin"], timeout=10) as r:
        return r.read().decode()


def mpub(d, *extra, topic="tls/x", msg="hello"):
    return run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(d.port), "-t", topic, "-m", msg, "-q", "1"]
               + list(extra), timeout=20)


class Tls(MqttTest):
    @classmethod
    def setUpClass(cls):
        cls.certs = Certs()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.certs.dir, ignore_errors=True)

    def test_good_tls_round_trip_both_versions(self):
        c = self.certs
        d = self.daemon(STREAM + tls_listener(c)).start()
        for v in ("mqttv311", "mqttv5"):
            sub = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(d.port), "--cafile",
                                    c.path("ca.crt"), "-t", "tls/#", "-C", "1", "-V", v, "-W", "15"],
                                   stdout=subprocess.PIPE, text=True)
            time.sleep(0.5)
            r = mpub(d, "--cafile", c.path("ca.crt"), "-V", v, msg="secret-" + v)
            self.assertEqual(r.returncode, 0, r.stderr)
            out, _ = sub.communicate(timeout=20)
            self.assertEqual(out.strip(), "secret-" + v)

    def test_wrong_ca_refused(self):
        d = self.daemon(STREAM + tls_listener(self.certs)).start()
        r = mpub(d, "--cafile", self.certs.path("otherca.crt"))
        self.assertNotEqual(r.returncode, 0)
        wait_for(lambda: "handshake failed" in d.output(), 10, "handshake failure logged")
        self.assertIn("127.0.0.1", d.output())

    def test_wrong_host_certificate_refused_by_client(self):
        d = self.daemon(STREAM + tls_listener(self.certs, server="wronghost")).start()
        r = mpub(d, "--cafile", self.certs.path("ca.crt"))
        self.assertNotEqual(r.returncode, 0)

    def test_required_client_certificate(self):
        c = self.certs
        d = self.daemon(STREAM + tls_listener(c, require=True)).start()
        self.assertNotEqual(mpub(d, "--cafile", c.path("ca.crt")).returncode, 0)
        wait_for(lambda: "no client certificate" in d.output(), 10, "reason logged")
        r = mpub(d, "--cafile", c.path("ca.crt"), "--cert", c.path("client.crt"), "--key", c.path("client.key"))
        self.assertEqual(r.returncode, 0, r.stderr)
        r = mpub(d, "--cafile", c.path("ca.crt"), "--cert", c.path("stranger.crt"), "--key", c.path("stranger.key"))
        self.assertNotEqual(r.returncode, 0)

    def test_expired_client_certificate_refused(self):
        c = self.certs
        d = self.daemon(STREAM + tls_listener(c, require=True)).start()
        r = mpub(d, "--cafile", c.path("ca.crt"), "--cert", c.path("expired.crt"), "--key", c.path("expired.key"))
        self.assertNotEqual(r.returncode, 0)
        wait_for(lambda: "expired" in d.output(), 10, "expiry reason logged")

    def test_identity_as_username_with_acl(self):
        c = self.certs
        acl = os.path.join(c.dir, "acl.%d" % os.getpid())
        with open(acl, "w") as f:
            f.write("pattern readwrite devices/%u/#\n")
        d = self.daemon(STREAM + tls_listener(c, require=True, identity=True) +
                        '[auth]\nacl_file = "%s"\n' % acl).start()
        base = ["--cafile", c.path("ca.crt"), "--cert", c.path("client.crt"), "--key", c.path("client.key"), "-V", "mqttv5"]
        self.assertEqual(mpub(d, *base, topic="devices/device-1/temp").returncode, 0)
        # mosquitto_pub reports the 0x87 PUBACK as an error in 5.0.
        r = mpub(d, *base, topic="devices/device-2/temp")
        self.assertIn("not authorized", (r.stderr + r.stdout).lower())

    def test_sighup_reloads_certificates_keeping_connections(self):
        c = self.certs
        live = tempfile.mkdtemp(prefix="trib-live-")
        self.addCleanup(shutil.rmtree, live, True)
        for ext in ("crt", "key"):
            shutil.copy(c.path("server." + ext), os.path.join(live, "server." + ext))
        d = self.daemon(STREAM + '[[listener]]\nbind = "127.0.0.1:0"\ntls = { cert = "%s/server.crt", '
                        'key = "%s/server.key" }\n' % (live, live)).start()
        sub = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(d.port), "--cafile",
                                c.path("ca.crt"), "-t", "reload/#", "-C", "1", "-W", "30"],
                               stdout=subprocess.PIPE, text=True)
        self.addCleanup(sub.kill)
        time.sleep(0.5)
        # Swap in the wrong-host certificate and reload.
        for ext in ("crt", "key"):
            shutil.copy(c.path("wronghost." + ext), os.path.join(live, "server." + ext))
        d.signal(signal.SIGHUP)
        wait_for(lambda: "reloaded passwords, ACLs and TLS certificates" in d.output(), 10, "reload")
        # New connections get the new certificate (which fails the host check) ...
        self.assertNotEqual(mpub(d, "--cafile", c.path("ca.crt"), topic="reload/x").returncode, 0)
        # ... while the connection made before the reload still works.
        r = mpub(d, "--cafile", c.path("ca.crt"), "--insecure", topic="reload/x", msg="after-reload")
        self.assertEqual(r.returncode, 0, r.stderr)
        out, _ = sub.communicate(timeout=20)
        self.assertEqual(out.strip(), "after-reload")

    def test_idle_tls_connections_give_back_their_record_buffers(self):
        """After a tick without traffic a TLS connection's record buffer pages
        go back to the system (mbedTLS keeps 16 KiB each way for a session's
        life); records of every size still pass both ways afterwards,
        including ones that span pages and records, and a connection that
        idles again gives them back again."""
        c = self.certs
        d = self.daemon(STREAM + tls_listener(c)).start()
        ctx = ssl.create_default_context(cafile=c.path("ca.crt"))

        def client(cid):
            cl = RawClient(d.port, 5)
            cl.sock = ctx.wrap_socket(cl.sock, server_hostname="localhost")
            cl.connect(cid)
            self.addCleanup(cl.close)
            return cl

        def released():
            m = re.search(r"^tributary_tls_buffer_bytes_released_total (\S+)$", metrics(d), re.M)
            return float(m.group(1))

        sub, pub = client("idle-tls-sub"), client("idle-tls-pub")
        sub.subscribe(("idle/#", 1))
        wait_for(lambda: released() >= 2 * 2 * 8192, 10, "both connections to give their buffers back")
        first = released()
        payloads = [b"s", bytes(range(256)) * 17, b"y" * 20000, b"z" * 70000, b"last"]
        for i, body in enumerate(payloads):
            pub.publish("idle/%d" % i, body, qos=1)
        got = sub.messages(len(payloads), timeout=20)
        self.assertEqual([(m.topic, m.payload) for m in got],
                         [("idle/%d" % i, body) for i, body in enumerate(payloads)])
        wait_for(lambda: released() > first, 10, "the buffers to go back again after the traffic")
        pub.publish("idle/again", b"still fine", qos=1)
        self.assertEqual(sub.messages(1, timeout=10)[0].payload, b"still fine")

    def test_garbage_on_tls_port_closes_and_daemon_carries_on(self):
        c = self.certs
        d = self.daemon(STREAM + tls_listener(c)).start()
        for junk in (b"\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00", os.urandom(4096), b"GET / HTTP/1.0\r\n\r\n"):
            s = socket.create_connection(("127.0.0.1", d.port), 5)
            s.settimeout(10)
            s.sendall(junk)
            try:
                while s.recv(4096):
                    pass
            except (ConnectionResetError, socket.timeout):
                pass
            s.close()
        self.assertEqual(mpub(d, "--cafile", c.path("ca.crt")).returncode, 0)
        self.assertIsNone(d.proc.poll())


class Passwords(MqttTest):
    def make_file(self, d, users):
        path = os.path.join(d.workdir, "passwords")
        for user, pw in users:
            r = subprocess.run([TOOL, "passwd", "-b", path, user], input=pw + "\n", capture_output=True,
                               text=True, timeout=30)
            self.assertEqual(r.returncode, 0, r.stderr)
        return path

    def test_right_and_wrong_passwords_both_versions(self):
        d = self.daemon(STREAM)
        path = self.make_file(d, [("alice", "wonderland"), ("bob", "builder")])
        d.config_text += '[auth]\npassword_file = "%s"\n' % path
        d.start()
        for v, bad_rc, anon_rc in ((4, 4, 5), (5, 0x86, 0x87)):
            with self.subTest(version=v):
                raw(d.port, v, "a%d" % v, username="alice", password=b"wonderland").close()
                c = RawClient(d.port, v)
                c.connect("b%d" % v, username="alice", password=b"nope", expect_rc=bad_rc)
                c.close()
                c = RawClient(d.port, v)
                c.connect("n%d" % v, expect_rc=anon_rc)  # anonymous refused with a password file
                c.close()
        self.assertIn("tributary_auth_failures_total 4", metrics(d))

    def test_sighup_reloads_password_file(self):
        d = self.daemon(STREAM)
        path = self.make_file(d, [("alice", "one")])
        d.config_text += '[auth]\npassword_file = "%s"\n' % path
        d.start()
        c = RawClient(d.port, 5)
        c.connect("x", username="carol", password=b"two", expect_rc=0x86)
        c.close()
        self.make_file(d, [("carol", "two")])
        d.signal(signal.SIGHUP)
        wait_for(lambda: "reloaded passwords" in d.output(), 10, "reload")
        raw(d.port, 5, "y", username="carol", password=b"two").close()
        raw(d.port, 5, "y", username="carol", password=b"two").close()  # the remembered check
        # A password changed on disk: after the reload the old one no longer
        # passes, even though it passed (and was remembered) before.
        self.make_file(d, [("carol", "three")])
        mark = len(d.output())
        d.signal(signal.SIGHUP)
        wait_for(lambda: "reloaded passwords" in d.output()[mark:], 10, "second reload")
        c = RawClient(d.port, 5)
        c.connect("z", username="carol", password=b"two", expect_rc=0x86)
        c.close()
        raw(d.port, 5, "z", username="carol", password=b"three").close()


ACL = """# anonymous: nothing
user alice
topic readwrite alice/#
topic read shared/#
topic deny shared/secret
user bob
topic write shared/#
pattern read clients/%c/cmd
"""


class AclMatrix(MqttTest):
    def start(self):
        d = self.daemon(STREAM)
        path = os.path.join(d.workdir, "acl")
        with open(path, "w") as f:
            f.write(ACL)
        pw = os.path.join(d.workdir, "passwords")
        for user in ("alice", "bob"):
            subprocess.run([TOOL, "passwd", "-b", pw, user], input="pw\n", text=True, check=True, timeout=30)
        d.config_text += '[auth]\npassword_file = "%s"\nacl_file = "%s"\n' % (pw, path)
        return d.start()

    def test_publish_and_subscribe_matrix(self):
        d = self.start()
        for v in (4, 5):
            with self.subTest(version=v):
                denied_sub = 0x87 if v == 5 else 0x80
                alice = self.client(d.port, v, "alice-%d" % v, username="alice", password=b"pw")
                bob = self.client(d.port, v, "bob-%d" % v, username="bob", password=b"pw")
                self.assertEqual(alice.subscribe(("alice/#", 1), ("shared/#", 1), ("bob/#", 1), ("#", 1)).rcs,
                                 [1, 1, denied_sub, denied_sub])
                self.assertEqual(bob.subscribe(("shared/#", 1), ("clients/bob-%d/cmd" % v, 1),
                                               ("clients/other/cmd", 1)).rcs,
                                 [denied_sub, 1, denied_sub])
                ack = alice.publish("alice/x", "ok", qos=1)
                self.assertEqual(getattr(ack, "rc", 0), 0)
                ack = alice.publish("shared/x", "no", qos=1)  # alice may only read shared/#
                self.assertEqual(getattr(ack, "rc", 0), 0x87 if v == 5 else 0)
                bob.publish("shared/news", "from-bob", qos=1)
                bob.publish("shared/secret", "hidden", qos=1)
                got = alice.expect(PUBLISH)
                self.assertEqual((got.topic, got.payload), ("alice/x", b"ok"))
                got = alice.expect(PUBLISH)
                self.assertEqual((got.topic, got.payload), ("shared/news", b"from-bob"))
                # shared/secret is denied to alice on read: never delivered.
                self.assertTrue(alice.is_open(0.5))


class Limits(MqttTest):
    def test_max_connections(self):
        d = self.daemon(STREAM + "[limits]\nmax_connections = 2\n").start()
        a = self.client(d.port, 5, "l1")
        b = self.client(d.port, 5, "l2")
        s = socket.create_connection(("127.0.0.1", d.port), 5)
        s.settimeout(5)
        self.assertEqual(s.recv(10), b"")  # closed at once
        s.close()
        wait_for(lambda: "max_connections" in d.output(), 10, "refusal logged")

    def test_topic_and_subscription_limits(self):
        d = self.daemon(STREAM + "[limits]\nmax_topic_length = 16\nmax_topic_levels = 3\n"
                        "max_subscriptions = 2\n").start()
        c = self.client(d.port, 5, "lim")
        # Filters over the length or level limit, and the third subscription, fail.
        self.assertEqual(c.subscribe(("a/b", 1), ("a/b/c/d", 1), ("x" * 17, 1), ("c/d", 1), ("e/f", 1)).rcs,
                         [1, 0x8F, 0x8F, 1, 0x97])
        # A topic over the limits is refused with 0x90 and a disconnect.
        c.publish("a/b/c/d", "x", qos=0)
        dis = c.expect_close()
        self.assertIsNotNone(dis)
        self.assertEqual(dis.rc, 0x90)
        c3 = self.client(d.port, 4, "lim3")
        self.assertEqual(c3.subscribe(("a/b/c/d", 1)).rcs, [0x80])

    def test_inflight_limit_advertised_and_enforced(self):
        d = self.daemon(STREAM + "[limits]\nmax_inflight = 4\n").start()
        c = RawClient(d.port, 5)
        self.clients.append(c)
        self.assertEqual(c.connect("inf").props.get("receive_maximum"), 4)

    def test_publish_rate_v5_disconnect_0x96(self):
        d = self.daemon(STREAM + "[limits]\nmax_publish_rate = 5\n").start()
        c = self.client(d.port, 5, "fast")
        for i in range(20):
            try:
                c.publish("r/x", "m%d" % i, qos=0)
            except Exception:
                break
        dis = c.expect_close()
        self.assertIsNotNone(dis)
        self.assertEqual(dis.rc, 0x96)


if __name__ == "__main__":
    unittest.main(verbosity=2)
