"""Test harness: start the real tributaryd (and a real Mosquitto) on free
loopback ports with temporary directories, wait until ready, stop them.

Used by every integration test; each test file is one ctest entry. The
binaries come from TRIB_BIN_DIR (set by CMake)."""
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import unittest

BIN_DIR = os.environ.get("TRIB_BIN_DIR", os.path.join(os.path.dirname(__file__), "../../build/debug-asan/bin"))
TRIBUTARYD = os.path.join(BIN_DIR, "tributaryd")
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, timeout=20.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.02)
    raise AssertionError("timed out waiting for " + what)


class Daemon:
    """One tributaryd process. `config` is TOML text without [[listener]]:
    a listener on 127.0.0.1:0 is added unless the text has one."""

    def __init__(self, config="", data_dir=None, workdir=None, extra_args=(), defaults_only=False):
        self.workdir = workdir or tempfile.mkdtemp(prefix="trib-it-")
        self.data_dir = data_dir or os.path.join(self.workdir, "data")
        self.config_text = config
        self.extra_args = list(extra_args)
        self.defaults_only = defaults_only
        self.command_prefix = []  # e.g. a wrapper that sets up a mount namespace
        self.proc = None
        self.port = None
        self.addresses = {}
        self.log_path = os.path.join(self.workdir, "tributaryd.%d.log" % id(self))
        self.ready_file = os.path.join(self.workdir, "ready.%d" % id(self))

    def config_path(self):
        return os.path.join(self.workdir, "tributary.toml")

    def write_config(self):
        text = self.config_text
        if "[storage]" not in text:
            text = '[storage]\ndir = "%s"\nsync = "none"\n' % self.data_dir + text
        if "[[listener]]" not in text:
            text += '\n[[listener]]\nbind = "127.0.0.1:0"\n'
        if "[admin]" not in text:
            text += '\n[admin]\nbind = "127.0.0.1:0"\n'
        with open(self.config_path(), "w") as f:
            f.write(text)

    def start(self, wait=True):
        if os.path.exists(self.ready_file):
            os.unlink(self.ready_file)
        args = self.command_prefix + [TRIBUTARYD, "--ready-file", self.ready_file] + self.extra_args
        if not self.defaults_only:
            self.write_config()
            args += ["--config", self.config_path()]
        if getattr(self, "log", None):
            self.log.close()
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, cwd=self.workdir)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=30.0):
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError("tributaryd exited with %s:\n%s" % (self.proc.returncode, self.output()))
            return os.path.exists(self.ready_file)
        wait_for(ready, timeout, "tributaryd to be ready")
        self.addresses = {}
        with open(self.ready_file) as f:
            for line in f:
                kind, addr = line.split()
                self.addresses.setdefault(kind, addr)
        self.port = int(self.addresses["mqtt"].rsplit(":", 1)[1])

    def output(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=20.0):
        """SIGTERM and wait; returns the exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("tributaryd did not stop within %ss:\n%s" % (timeout, self.output()))

    def kill(self):
        self.proc.kill()
        self.proc.wait()

    def cleanup(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if getattr(self, "log", None):
            self.log.close()
        shutil.rmtree(self.workdir, ignore_errors=True)


class Mosquitto:
    """A real Mosquitto broker on a free loopback port (for exporter and benchmark comparisons)."""

    def __init__(self, port=None, extra_conf=""):
        self.workdir = tempfile.mkdtemp(prefix="mosq-it-")
        self.port = port or free_port()
        self.extra_conf = extra_conf
        self.proc = None

    def start(self):
        conf = os.path.join(self.workdir, "mosquitto.conf")
        with open(conf, "w") as f:
            f.write("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n%s\n" % (self.port, self.extra_conf))
        self.proc = subprocess.Popen([MOSQUITTO, "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def up():
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return True
            except OSError:
                return False
        wait_for(up, 10, "mosquitto")
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def cleanup(self):
        self.stop()
        if not getattr(self, "keep", False):  # a test kept it for a look
            shutil.rmtree(self.workdir, ignore_errors=True)


class DaemonTest(unittest.TestCase):
    """Base class: self.daemons are cleaned up after each test; on failure the
    daemon's log is printed."""

    def setUp(self):
        self.daemons = []

    def daemon(self, config="", **kw):
        d = Daemon(config, **kw)
        self.daemons.append(d)
        return d

    def tearDown(self):
        failed = any(e for _, e in (self._outcome.result.errors + self._outcome.result.failures)
                     if _ is self) if hasattr(self._outcome, "result") else False
        for d in self.daemons:
            if failed:
                print("---- tributaryd log (%s) ----\n%s" % (d.workdir, d.output()[-8000:]))
            d.cleanup()


def run(cmd, timeout=30, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)


# ---------------------------------------------------------------------------
# A raw MQTT 3.1.1 / 5.0 client over a plain socket, for tests that must see
# the exact bytes: reason codes, properties, packet ids, DUP, and what the
# broker does with malformed input. Nothing here retries or hides errors.
# ---------------------------------------------------------------------------

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT, AUTH = 8, 9, 10, 11, 12, 13, 14, 15
PACKET_NAMES = {1: "CONNECT", 2: "CONNACK", 3: "PUBLISH", 4: "PUBACK", 5: "PUBREC", 6: "PUBREL",
                7: "PUBCOMP", 8: "SUBSCRIBE", 9: "SUBACK", 10: "UNSUBSCRIBE", 11: "UNSUBACK",
                12: "PINGREQ", 13: "PINGRESP", 14: "DISCONNECT", 15: "AUTH"}

# MQTT 5 property identifiers -> (name, kind). Kinds: byte, u16, u32, varint, str, bin, pair.
PROPS = {
    0x01: ("payload_format", "byte"), 0x02: ("message_expiry", "u32"), 0x03: ("content_type", "str"),
    0x08: ("response_topic", "str"), 0x09: ("correlation_data", "bin"), 0x0B: ("subscription_id", "varint"),
    0x11: ("session_expiry", "u32"), 0x12: ("assigned_client_id", "str"), 0x13: ("server_keep_alive", "u16"),
    0x15: ("auth_method", "str"), 0x16: ("auth_data", "bin"), 0x17: ("request_problem_info", "byte"),
    0x18: ("will_delay", "u32"), 0x19: ("request_response_info", "byte"), 0x1A: ("response_info", "str"),
    0x1C: ("server_reference", "str"), 0x1F: ("reason_string", "str"), 0x21: ("receive_maximum", "u16"),
    0x22: ("topic_alias_maximum", "u16"), 0x23: ("topic_alias", "u16"), 0x24: ("maximum_qos", "byte"),
    0x25: ("retain_available", "byte"), 0x26: ("user", "pair"), 0x27: ("maximum_packet_size", "u32"),
    0x28: ("wildcard_sub_available", "byte"), 0x29: ("sub_id_available", "byte"),
    0x2A: ("shared_sub_available", "byte"),
}
PROP_IDS = {name: (pid, kind) for pid, (name, kind) in PROPS.items()}


def enc_varint(n):
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def enc_str(s):
    b = s.encode() if isinstance(s, str) else bytes(s)
    return struct.pack(">H", len(b)) + b


def enc_props(props):
    """props: dict name -> value; 'user' is a list of (k, v); 'subscription_id' may be a list."""
    out = bytearray()
    for name, value in (props or {}).items():
        pid, kind = PROP_IDS[name]
        values = value if (kind == "pair" or (name == "subscription_id" and isinstance(value, list))) else [value]
        for v in values:
            out += enc_varint(pid)
            if kind == "byte":
                out += bytes([v])
            elif kind == "u16":
                out += struct.pack(">H", v)
            elif kind == "u32":
                out += struct.pack(">I", v)
            elif kind == "varint":
                out += enc_varint(v)
            elif kind in ("str", "bin"):
                out += enc_str(v)
            elif kind == "pair":
                out += enc_str(v[0]) + enc_str(v[1])
    return enc_varint(len(out)) + bytes(out)


def packet(ptype, flags, body):
    """Fixed header (type << 4 | flags, remaining length) + body."""
    return bytes([(ptype << 4) | flags]) + enc_varint(len(body)) + body


class Reader:
    """Cursor over a packet body."""

    def __init__(self, data):
        self.data, self.pos = bytes(data), 0

    def left(self):
        return len(self.data) - self.pos

    def take(self, n):
        if self.pos + n > len(self.data):
            raise AssertionError("truncated packet body: need %d at %d of %r" % (n, self.pos, self.data))
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def u8(self):
        return self.take(1)[0]

    def u16(self):
        return struct.unpack(">H", self.take(2))[0]

    def u32(self):
        return struct.unpack(">I", self.take(4))[0]

    def varint(self):
        n, mult = 0, 1
        for _ in range(4):
            b = self.u8()
            n += (b & 0x7F) * mult
            if not b & 0x80:
                return n
            mult *= 128
        raise AssertionError("bad varint")

    def str(self):
        return self.take(self.u16()).decode()

    def bin(self):
        return self.take(self.u16())

    def props(self):
        end = self.varint() + self.pos
        props = {}
        while self.pos < end:
            pid = self.varint()
            name, kind = PROPS[pid]
            v = {"byte": self.u8, "u16": self.u16, "u32": self.u32, "varint": self.varint,
                 "str": self.str, "bin": self.bin, "pair": lambda: (self.str(), self.str())}[kind]()
            if kind == "pair":
                props.setdefault("user", []).append(v)
            elif name == "subscription_id":
                props.setdefault("subscription_id", []).append(v)
            else:
                if name in props:
                    raise AssertionError("property %s twice" % name)
                props[name] = v
        return props


class Packet:
    """One decoded packet from the broker. Fields depend on the type."""

    def __init__(self, ptype, flags, body, version):
        self.type, self.flags, self.body = ptype, flags, bytes(body)
        self.props = {}
        r = Reader(body)
        v5 = version == 5
        if ptype == CONNACK:
            self.session_present = r.u8() & 1
            self.rc = r.u8()
            if v5 and r.left():
                self.props = r.props()
        elif ptype == PUBLISH:
            self.dup = bool(flags & 8)
            self.qos = (flags >> 1) & 3
            self.retain = bool(flags & 1)
            self.topic = r.str()
            self.pid = r.u16() if self.qos else None
            if v5:
                self.props = r.props()
            self.payload = r.take(r.left())
        elif ptype in (PUBACK, PUBREC, PUBREL, PUBCOMP):
            self.pid = r.u16()
            self.rc = r.u8() if (v5 and r.left()) else 0
            if v5 and r.left():
                self.props = r.props()
        elif ptype in (SUBACK, UNSUBACK):
            self.pid = r.u16()
            if v5:
                self.props = r.props()
            self.rcs = list(r.take(r.left()))
        elif ptype == DISCONNECT:
            self.rc = r.u8() if r.left() else 0
            if r.left():
                self.props = r.props()
        elif ptype == AUTH:
            self.rc = r.u8() if r.left() else 0

    @property
    def name(self):
        return PACKET_NAMES.get(self.type, "type%d" % self.type)

    def __repr__(self):
        fields = {k: v for k, v in self.__dict__.items() if k not in ("body", "flags")}
        return "<%s %r>" % (self.name, fields)


class Closed(Exception):
    pass


class RawClient:
    """A blocking MQTT client on a socket. version is 4 (3.1.1) or 5.

    Every receive has a timeout; recv() raises AssertionError on timeout and
    Closed when the broker closes the connection."""

    def __init__(self, port, version=5, host="127.0.0.1", timeout=5.0):
        self.version = version
        self.sock = socket.create_connection((host, port), timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.next_pid = 1
        self.timeout = timeout
        self.queued = []  # packets read while waiting for another kind

    # -- sending --------------------------------------------------------------
    def send(self, data):
        self.sock.sendall(data)

    def pid(self):
        p = self.next_pid
        self.next_pid = self.next_pid % 65535 + 1
        return p

    def connect_packet(self, client_id="", clean=True, keepalive=60, props=None, will=None,
                       username=None, password=None, proto_name="MQTT", level=None):
        """will: dict(topic, payload, qos=0, retain=False, props=None)."""
        level = self.version if level is None else level
        flags = (2 if clean else 0)
        if will:
            flags |= 4 | (will.get("qos", 0) << 3) | (32 if will.get("retain") else 0)
        if username is not None:
            flags |= 128
        if password is not None:
            flags |= 64
        body = enc_str(proto_name) + bytes([level, flags]) + struct.pack(">H", keepalive)
        if self.version == 5:
            body += enc_props(props)
        body += enc_str(client_id)
        if will:
            if self.version == 5:
                body += enc_props(will.get("props"))
            body += enc_str(will["topic"]) + enc_str(will["payload"])
        if username is not None:
            body += enc_str(username)
        if password is not None:
            body += enc_str(password)
        return packet(CONNECT, 0, body)

    def connect(self, client_id="", clean=True, keepalive=60, props=None, will=None, expect_rc=0, **kw):
        """Send CONNECT and return the CONNACK (asserting its reason code)."""
        self.send(self.connect_packet(client_id, clean, keepalive, props, will, **kw))
        ack = self.expect(CONNACK)
        if expect_rc is not None and ack.rc != expect_rc:
            raise AssertionError("CONNACK rc 0x%02x, expected 0x%02x: %r" % (ack.rc, expect_rc, ack))
        return ack

    def publish_packet(self, topic, payload=b"", qos=0, retain=False, dup=False, pid=None, props=None):
        if isinstance(payload, str):
            payload = payload.encode()
        body = enc_str(topic)
        if qos:
            body += struct.pack(">H", pid)
        if self.version == 5:
            body += enc_props(props)
        body += payload
        return packet(PUBLISH, (8 if dup else 0) | (qos << 1) | (1 if retain else 0), body)

    def publish(self, topic, payload=b"", qos=0, retain=False, dup=False, pid=None, props=None, wait=True):
        """Publish; for QoS 1/2 with wait=True, complete the handshake and return the last ack."""
        if qos and pid is None:
            pid = self.pid()
        self.send(self.publish_packet(topic, payload, qos, retain, dup, pid, props))
        if not qos or not wait:
            return pid
        if qos == 1:
            ack = self.expect(PUBACK)
            assert ack.pid == pid, "PUBACK for %d, expected %d" % (ack.pid, pid)
            return ack
        rec = self.expect(PUBREC)
        assert rec.pid == pid, "PUBREC for %d, expected %d" % (rec.pid, pid)
        if rec.rc >= 0x80:
            return rec
        self.send(self.ack_packet(PUBREL, pid))
        comp = self.expect(PUBCOMP)
        assert comp.pid == pid
        return comp

    def ack_packet(self, ptype, pid, rc=None, props=None):
        body = struct.pack(">H", pid)
        if self.version == 5 and (rc is not None or props):
            body += bytes([rc or 0])
            if props:
                body += enc_props(props)
        return packet(ptype, 2 if ptype == PUBREL else 0, body)

    def subscribe(self, *filters, props=None, pid=None, expect=None):
        """filters: (filter, options) pairs or bare filters (QoS 0). options is the
        subscription options byte (QoS | nl<<2 | rap<<3 | rh<<4). Returns the SUBACK."""
        pid = pid or self.pid()
        body = struct.pack(">H", pid)
        if self.version == 5:
            body += enc_props(props)
        for f in filters:
            flt, opts = (f, 0) if isinstance(f, str) else f
            body += enc_str(flt) + bytes([opts])
        self.send(packet(SUBSCRIBE, 2, body))
        ack = self.expect(SUBACK)
        assert ack.pid == pid, "SUBACK for %d, expected %d" % (ack.pid, pid)
        if expect is not None and ack.rcs != list(expect):
            raise AssertionError("SUBACK codes %r, expected %r" % (ack.rcs, list(expect)))
        return ack

    def unsubscribe(self, *filters, pid=None):
        pid = pid or self.pid()
        body = struct.pack(">H", pid)
        if self.version == 5:
            body += enc_props(None)
        for f in filters:
            body += enc_str(f)
        self.send(packet(UNSUBSCRIBE, 2, body))
        ack = self.expect(UNSUBACK)
        assert ack.pid == pid
        return ack

    def disconnect(self, rc=None, props=None):
        body = b""
        if self.version == 5 and (rc is not None or props):
            body = bytes([rc or 0]) + (enc_props(props) if props else b"")
        try:
            self.send(packet(DISCONNECT, 0, body))
        except OSError:
            pass
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def abort(self):
        """Close with a RST-free FIN but without DISCONNECT: an abnormal end for the broker."""
        self.close()

    # -- receiving ------------------------------------------------------------
    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError("timed out waiting for a packet")
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise AssertionError("timed out waiting for a packet")
        except ConnectionResetError:
            raise Closed("connection reset")
        if not data:
            raise Closed("connection closed by broker")
        self.buf += data

    def _parse_one(self):
        """Return (type, flags, body) if a whole packet is buffered, else None."""
        if len(self.buf) < 2:
            return None
        n, mult, i = 0, 1, 1
        while True:
            if i >= len(self.buf):
                return None
            b = self.buf[i]
            n += (b & 0x7F) * mult
            i += 1
            if not b & 0x80:
                break
            mult *= 128
            if i > 4:
                raise AssertionError("broker sent a bad remaining length")
        if len(self.buf) < i + n:
            return None
        first = self.buf[0]
        body = bytes(self.buf[i:i + n])
        del self.buf[:i + n]
        return first >> 4, first & 15, body

    def recv(self, timeout=None):
        """The next packet (queued ones first)."""
        if self.queued:
            return self.queued.pop(0)
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            p = self._parse_one()
            if p:
                return Packet(p[0], p[1], p[2], self.version)
            self._fill(deadline)

    def expect(self, ptype, timeout=None):
        """The next packet of type ptype; packets of other types are kept for later
        recv() calls, except that a DISCONNECT fails the wait."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        for i, p in enumerate(self.queued):
            if p.type == ptype:
                return self.queued.pop(i)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError("timed out waiting for %s (kept: %r)" % (PACKET_NAMES[ptype], self.queued))
            p = self._recv_new(remaining)
            if p.type == ptype:
                return p
            if p.type == DISCONNECT:
                raise AssertionError("got %r while waiting for %s" % (p, PACKET_NAMES[ptype]))
            self.queued.append(p)

    def _recv_new(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            p = self._parse_one()
            if p:
                return Packet(p[0], p[1], p[2], self.version)
            self._fill(deadline)

    def messages(self, n, timeout=None, ack=True):
        """Receive n PUBLISH packets, acknowledging QoS 1/2 ones (unless ack=False)."""
        out = []
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while len(out) < n:
            p = self.expect(PUBLISH, max(0.0, deadline - time.monotonic()))
            out.append(p)
            if ack:
                self.ack(p)
        return out

    def ack(self, p):
        if p.qos == 1:
            self.send(self.ack_packet(PUBACK, p.pid))
        elif p.qos == 2:
            self.send(self.ack_packet(PUBREC, p.pid))
            rel = self.expect(PUBREL)
            assert rel.pid == p.pid
            self.send(self.ack_packet(PUBCOMP, p.pid))

    def no_message(self, wait=0.5):
        """Assert that no PUBLISH arrives within `wait` seconds."""
        for p in self.queued:
            if p.type == PUBLISH:
                raise AssertionError("unexpected %r" % p)
        try:
            p = self.expect(PUBLISH, wait)
        except AssertionError as e:
            if "timed out" in str(e):
                return
            raise
        raise AssertionError("unexpected %r" % p)

    def expect_close(self, timeout=5.0):
        """Wait until the broker closes the connection. Returns the DISCONNECT
        packet it sent first, or None. Fails if anything else arrives."""
        deadline = time.monotonic() + timeout
        got = None
        while True:
            try:
                p = self._recv_new(max(0.0, deadline - time.monotonic()))
            except Closed:
                return got
            except AssertionError as e:
                raise AssertionError("connection still open after %.1fs (%s)" % (timeout, e))
            if p.type == DISCONNECT and got is None:
                got = p
            elif p.type in (PUBLISH, PINGRESP, PUBACK, PUBREC, PUBCOMP):
                continue  # traffic already in flight
            else:
                raise AssertionError("expected a close, got %r" % p)

    def is_open(self, wait=0.3):
        """True if the connection is still open and silent after `wait` seconds."""
        try:
            p = self._recv_new(wait)
            self.queued.append(p)
            return True
        except Closed:
            return False
        except AssertionError:
            return True


def raw(port, version=5, client_id=None, **kw):
    """A connected RawClient (CONNACK rc 0 checked)."""
    c = RawClient(port, version)
    c.connect(client_id if client_id is not None else "c-%d-%d" % (os.getpid(), id(c)), **kw)
    return c


STREAM_CONFIG = '[[stream]]\nname = "t"\nsubjects = ["#"]\n'
NO_STREAM_CONFIG = ""


class MqttTest(DaemonTest):
    """Base for MQTT tests: self.clients are closed after each test."""

    def setUp(self):
        super().setUp()
        self.clients = []

    def client(self, port, version=5, client_id=None, **kw):
        c = raw(port, version, client_id, **kw)
        self.clients.append(c)
        return c

    def rawsock(self, port, version=5):
        c = RawClient(port, version)
        self.clients.append(c)
        return c

    def tearDown(self):
        for c in self.clients:
            c.close()
        super().tearDown()


# ---------------------------------------------------------------------------
# Exporter tests (bridge/): bridge_driver runs one exporter against a log in a
# temp dir; MqttCounter counts what reaches a broker; KafkaMock runs
# librdkafka's mock cluster in its own process.
# ---------------------------------------------------------------------------
import json
import threading

BRIDGE_DRIVER = os.path.join(BIN_DIR, "bridge_driver")


class PersistentMosquitto(Mosquitto):
    """Mosquitto that saves sessions and queued messages on a clean stop, so a
    persistent subscriber loses nothing across a restart (its own durability is
    not what the exporter tests measure)."""

    def start(self):
        conf = os.path.join(self.workdir, "mosquitto.conf")
        with open(conf, "w") as f:
            f.write("listener %d 127.0.0.1\nallow_anonymous true\npersistence true\n"
                    "persistence_location %s/\nautosave_interval 0\nmax_queued_messages 0\n"
                    "%s%s\n" % (self.port, self.workdir,
                                "user root\n" if os.geteuid() == 0 else "", self.extra_conf))
        self.log = open(os.path.join(self.workdir, "mosquitto.log"), "a")
        self.proc = subprocess.Popen([MOSQUITTO, "-c", conf], stdout=self.log, stderr=subprocess.STDOUT)

        def up():
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return True
            except OSError:
                return False
        wait_for(up, 10, "mosquitto")
        return self

    def stop(self):
        super().stop()
        if getattr(self, "log", None):
            self.log.close()
            self.log = None


class MqttCounter:
    """A persistent-session MQTT 5 subscriber (QoS 1) on a thread that records
    every PUBLISH (payload -> count, and the user properties of the first
    copy), acknowledging each, and reconnects whenever the broker goes away.

    Its session never expires (0xFFFFFFFF), so no test depends on how long a
    broker keeps it. Every CONNECT, the first included, has clean start 0 (each
    test runs its own broker, so there is no old session to resume). Mosquitto
    2.0 saves a session at shutdown only if its last CONNECT had clean start 0
    (persist__client_save), whatever its expiry: with clean start 1 on the first
    connection, the first broker restart silently dropped the subscription and
    every message queued or in flight to the counter. `sessions_lost` counts reconnections that did
    not find the session (CONNACK session present 0), so a test can assert
    that the broker under it kept its side."""

    def __init__(self, port, topic_filter, client_id="counter"):
        self.port, self.filter, self.client_id = port, topic_filter, client_id
        self.counts = {}
        self.props = {}
        self.topics = {}
        self.total = 0
        self.connects = 0
        self.sessions_lost = 0
        self.online = False  # connected and subscribed now
        self.paused = threading.Event()  # set: reads nothing (the broker queues for it)
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        self.stopped = False
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self.thread.start()
        if not self.subscribed.wait(10):
            raise AssertionError("counter could not subscribe")
        return self

    def _run(self):
        while not self.stopped:
            c = None
            try:
                c = RawClient(self.port, 5, timeout=5)
                ack = c.connect(self.client_id, clean=False, props={"session_expiry": 0xFFFFFFFF})
                if self.connects > 0 and not ack.session_present:
                    self.sessions_lost += 1
                self.connects += 1
                c.subscribe((self.filter, 1))
                self.online = True
                self.subscribed.set()
                while not self.stopped:
                    if self.paused.is_set():
                        time.sleep(0.05)
                        continue
                    try:
                        p = c.recv(0.3)
                    except AssertionError:
                        continue  # quiet for a moment
                    if p.type != PUBLISH:
                        continue
                    with self.lock:
                        self.total += 1
                        n = self.counts.get(p.payload, 0)
                        self.counts[p.payload] = n + 1
                        if n == 0:
                            self.props[p.payload] = p.props
                            self.topics[p.payload] = p.topic
                    c.ack(p)
            except (OSError, Closed, AssertionError):
                self.online = False
                time.sleep(0.1)
            finally:
                if c:
                    c.close()

    def unique(self):
        with self.lock:
            return len(self.counts)

    def stop(self):
        self.stopped = True
        self.thread.join(5)


class BridgeDriver:
    """One `bridge_driver run` process. Its JSON status lines are read on a
    thread; `last` is the newest, `lines` all of them."""

    def __init__(self, args, log_path):
        self.args = [BRIDGE_DRIVER, "run"] + [str(a) for a in args]
        self.log_path = log_path
        self.lines = []
        self.last = {}
        self.proc = None

    def start(self):
        self.err = open(self.log_path, "a")
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=self.err, text=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        return self

    def _read(self):
        for line in self.proc.stdout:
            try:
                j = json.loads(line)
            except ValueError:
                continue
            self.lines.append(j)
            if "acked" in j:
                self.last = j

    def wait_status(self, pred, timeout=60, what="driver status"):
        def check():
            if self.proc.poll() is not None and not pred(self.last):
                raise AssertionError("bridge_driver exited (%s) before %s; last %r"
                                     % (self.proc.returncode, what, self.last))
            return pred(self.last)
        return wait_for(check, timeout, what)

    def wait(self, timeout=120):
        rc = self.proc.wait(timeout)
        self.reader.join(5)
        self.proc.stdout.close()
        self.err.close()
        return rc

    def find(self, key):
        for j in self.lines:
            if key in j:
                return j
        return None

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.wait(10)

    def stderr_text(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except OSError:
            return ""


class KafkaMock:
    """`bridge_driver kafka-mock`: librdkafka's mock cluster in its own process,
    driven over stdin (down/up a broker, count records in a topic)."""

    def __init__(self, workdir, brokers=3, topic="telemetry", partitions=4):
        self.partitions = partitions
        self.err = open(os.path.join(workdir, "kafka-mock.log"), "a")
        self.proc = subprocess.Popen([BRIDGE_DRIVER, "kafka-mock", "--brokers", str(brokers),
                                      "--topic", topic, "--partitions", str(partitions)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.err, text=True, bufsize=1)
        line = self.proc.stdout.readline().split()
        if len(line) != 2 or line[0] != "bootstrap":
            raise AssertionError("kafka-mock did not start: %r" % line)
        self.bootstrap = line[1]

    def command(self, text):
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def down(self, broker):
        assert self.command("down %d" % broker) == "ok"

    def up(self, broker):
        assert self.command("up %d" % broker) == "ok"

    def count(self, topic, expect, timeout_ms=30000):
        """(unique, total, bad) records in topic, read from the beginning. Fails
        if the mock's own retention (about 5 MiB per partition) dropped a
        partition's head: then the count proves nothing, use fewer records."""
        # A first offset above 0 is the mock's doing (Kafka assigns the offsets,
        # so a record the exporter lost cannot move a partition's start): read
        # once more before giving up, in case the reading consumer started late.
        for attempt in range(2):
            reply = self.command("count %s %d %d" % (topic, expect, timeout_ms))
            fields = dict(kv.split("=") for kv in reply.split()[1:])
            if "unique" not in fields:
                raise AssertionError("kafka-mock count: %r" % reply)
            first = [int(x) for x in fields["first"].split(",")]
            if all(f == 0 for f in first):
                return int(fields["unique"]), int(fields["total"]), int(fields["bad"])
        raise AssertionError("the mock cluster dropped the head of a partition (first offsets %r)" % first)

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
                self.proc.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(5)
        for f in (self.proc.stdin, self.proc.stdout, self.err):
            try:
                f.close()
            except OSError:
                pass
