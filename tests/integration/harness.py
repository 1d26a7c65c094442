"""Test harness: start the real tributaryd (and a real Mosquitto) on free
loopback ports with temporary directories, wait until ready, stop them.

Used by every integration test; each test file is one ctest entry. The
binaries come from TRIB_BIN_DIR (set by CMake)."""
import os
import shutil
import signal
import socket
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
        args = [TRIBUTARYD, "--ready-file", self.ready_file] + self.extra_args
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
