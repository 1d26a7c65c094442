"""The Debian package, built by cpack from this build directory (the same
configuration `make deb` uses on the release build).

- The .deb itself: control fields, Depends from shlibdeps, the file list and
  modes, conffiles, maintainer scripts, lintian with no tag left unexplained,
  the shipped configuration (and every commented example in it) passing
  --check-config, and the unit's `systemd-analyze security` exposure.
- A scratch install: dpkg -i into a copy-on-write overlay of this machine's /
  inside a private mount namespace, so the real maintainer scripts run (user,
  state directory, enablement) while the host stays untouched. The installed
  tributaryd is started the way the unit starts it (its ExecStart, User,
  StateDirectory, a NOTIFY_SOCKET) and must send READY=1 and take an MQTT
  publish; then an upgrade keeps the edited conffile and the data, remove keeps
  data, configuration and user, and purge deletes all three.

The scratch install needs root (dpkg, mounts); as another user it is skipped."""
import ctypes
import glob
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

# Mounts made for the scratch root must vanish with this process and never show
# on the host: run the whole file in a private mount namespace when we can.
NS_MARK = "TRIB_PACKAGING_MOUNT_NS"


def _can_unshare():
    return (os.geteuid() == 0 and shutil.which("unshare") is not None and
            subprocess.run(["unshare", "--mount", "true"], capture_output=True).returncode == 0)


if __name__ == "__main__" and os.environ.get(NS_MARK) is None:
    if _can_unshare():
        os.environ[NS_MARK] = "1"
        os.execvp("unshare", ["unshare", "--mount", "--propagation", "private", sys.executable, "-u",
                              os.path.abspath(__file__)] + sys.argv[1:])
    os.environ[NS_MARK] = "0"

from harness import BIN_DIR, PUBLISH, TRIBUTARYD, RawClient, free_port, run, wait_for  # noqa: E402

BUILD_DIR = os.path.dirname(os.path.abspath(BIN_DIR))
SRC_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
CONF = "/etc/tributary/tributary.toml"
UNIT = "/lib/systemd/system/tributary.service"
STATE = "/var/lib/tributary"
SCRIPTS = ("postinst", "prerm", "postrm")

EXPECTED_FILES = {
    "/etc/tributary/tributary.toml": 0o644,
    "/lib/systemd/system/tributary.service": 0o644,
    "/usr/bin/tributary": 0o755,
    "/usr/lib/tributary/tributary-kafka.so": 0o644,  # exporter modules (bridge/sink_module.h)
    "/usr/lib/tributary/tributary-mqtt.so": 0o644,
    "/usr/sbin/tributaryd": 0o755,
    "/usr/share/doc/tributary/README.md": 0o644,
    "/usr/share/doc/tributary/changelog.gz": 0o644,
    "/usr/share/doc/tributary/copyright": 0o644,
    "/usr/share/doc/tributary/examples/low-port.conf": 0o644,
    "/usr/share/lintian/overrides/tributary": 0o644,
    "/usr/share/man/man1/tributary.1.gz": 0o644,
    "/usr/share/man/man8/tributaryd.8.gz": 0o644,
}

DEB = None
WORK = None


def setUpModule():
    global DEB, WORK
    WORK = tempfile.mkdtemp(prefix="trib-pkg-")
    # gzip instead of the release's xz: the same package, built in a third of the time.
    r = run(["cpack", "--config", os.path.join(BUILD_DIR, "CPackConfig.cmake"), "-B",
             os.path.join(WORK, "out"), "-D", "CPACK_DEBIAN_COMPRESSION_TYPE=gzip"], timeout=480)
    if r.returncode != 0:
        raise AssertionError("cpack failed:\n%s\n%s" % (r.stdout, r.stderr))
    debs = glob.glob(os.path.join(WORK, "out", "*.deb"))
    if len(debs) != 1:
        raise AssertionError("expected one .deb, got %r:\n%s" % (debs, r.stdout))
    DEB = debs[0]


def tearDownModule():
    if WORK:
        shutil.rmtree(WORK, ignore_errors=True)


def checked(cmd, timeout=120, **kw):
    r = run(cmd, timeout=timeout, **kw)
    if r.returncode != 0:
        raise AssertionError("%s exited %d:\n%s\n%s" % (" ".join(cmd), r.returncode, r.stdout, r.stderr))
    return r.stdout


def project_version():
    out = checked([TRIBUTARYD, "--version"])
    return re.search(r"(\d+\.\d+\.\d+)", out).group(1)


def control_fields(deb):
    fields, key = {}, None
    for line in checked(["dpkg-deb", "--field", deb]).splitlines():
        if line.startswith(" ") and key:
            fields[key] += "\n" + line
        else:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


def uncomment_examples(text):
    """The configuration with every commented TOML line (a key = value or a
    [table] header) made active; prose comments stay comments."""
    example = re.compile(r"^# ?(\s*[a-z_]+ = .*|\[\[?[a-z_]+\]\]?)$")
    out = []
    for line in text.splitlines():
        m = example.match(line)
        out.append(m.group(1) if m else line)
    return "\n".join(out) + "\n"


def unit_settings(text):
    """[Service] settings of a unit file: name -> list of values in order."""
    settings, section = {}, None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line
        elif section == "[Service]":
            k, _, v = line.partition("=")
            settings.setdefault(k, []).append(v)
    return settings


class PackageFile(unittest.TestCase):
    def test_control_fields_and_depends(self):
        f = control_fields(DEB)
        self.assertEqual(f["Package"], "tributary")
        self.assertEqual(f["Version"], project_version())
        self.assertEqual(f["Section"], "net")
        self.assertEqual(f["Priority"], "optional")
        self.assertEqual(f["Architecture"], checked(["dpkg", "--print-architecture"]).strip())
        self.assertRegex(f["Maintainer"], r"^[^<>]+ <[^<>@\s]+@[^<>@\s]+>$")
        self.assertIn("\n", f["Description"], "no extended description")
        depends = [d.strip().split(" ")[0] for d in f["Depends"].split(",")]
        # The scripts' tools, and libraries found by dpkg-shlibdeps.
        for pkg in ("adduser", "init-system-helpers", "libc6", "libuv1", "liblmdb0", "libmbedtls14",
                    "libsystemd0", "libzstd1", "librdkafka1", "libpaho-mqttpp3-1"):
            self.assertIn(pkg, depends, f["Depends"])
        self.assertTrue(int(f["Installed-Size"]) > 0)

    def test_files_modes_and_owners(self):
        listing = checked(["dpkg-deb", "--contents", DEB])
        files = {}
        for line in listing.splitlines():
            mode, owner, _size, _date, _time, path = line.split(None, 5)
            self.assertEqual(owner, "root/root", line)
            path = path[1:]  # "./usr/..." -> "/usr/..."
            if mode.startswith("d"):
                self.assertEqual(mode, "drwxr-xr-x", line)
            else:
                self.assertTrue(mode.startswith("-"), line)
                files[path] = mode
        self.assertEqual(sorted(files), sorted(EXPECTED_FILES))
        for path, want in EXPECTED_FILES.items():
            self.assertEqual(files[path], "-" + stat_string(want), path)
        # Nothing under /var: the state directory belongs to systemd and postinst.
        self.assertFalse([p for p in files if p.startswith("/var")])

    def test_binaries_are_stripped(self):
        root = os.path.join(WORK, "x-stripped")
        checked(["dpkg-deb", "-x", DEB, root])
        for b in ("usr/sbin/tributaryd", "usr/bin/tributary", "usr/lib/tributary/tributary-mqtt.so",
                  "usr/lib/tributary/tributary-kafka.so"):
            out = checked(["file", "-b", os.path.join(root, b)])
            self.assertIn("ELF", out)
            self.assertIn(", stripped", out)

    def test_conffiles_and_maintainer_scripts(self):
        ctl = os.path.join(WORK, "control")
        checked(["dpkg-deb", "--control", DEB, ctl])
        with open(os.path.join(ctl, "conffiles")) as f:
            self.assertEqual(f.read().split(), [CONF])
        for s in SCRIPTS:
            path = os.path.join(ctl, s)
            self.assertEqual(os.stat(path).st_mode & 0o777, 0o755, s)
            with open(path) as f:
                text = f.read()
            self.assertTrue(text.startswith("#!/bin/sh\n"), s)
            self.assertIn("\nset -e\n", text, s)
            checked(["sh", "-n", path])
            if shutil.which("shellcheck"):
                checked(["shellcheck", "-s", "sh", path])
        self.assertTrue(os.path.exists(os.path.join(ctl, "md5sums")))

    def test_lintian_reports_no_tag(self):
        # Every tag at every level (info and pedantic too) is either fixed or
        # overridden in packaging/deb/lintian-overrides with its reason.
        r = run(["lintian", "--info", "--pedantic", "--display-experimental", DEB], timeout=300)
        tags = [l for l in r.stdout.splitlines() if re.match(r"^[EWIPX]: ", l)]
        self.assertEqual(tags, [], r.stdout + r.stderr)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        with open(os.path.join(SRC_DIR, "packaging/deb/lintian-overrides")) as f:
            lines = f.read().splitlines()
        for i, line in enumerate(lines):
            if line.startswith("tributary:"):
                self.assertTrue(i > 0 and lines[i - 1].startswith("#"),
                                "override without a reason above it: " + line)

    def test_shipped_configuration_and_its_examples_are_valid(self):
        root = os.path.join(WORK, "x-config")
        checked(["dpkg-deb", "-x", DEB, root])
        conf = root + CONF
        out = checked([TRIBUTARYD, "--check-config", conf])
        self.assertIn("configuration OK", out)
        with open(conf) as f:
            text = f.read()
        self.assertIn('dir = "%s"' % STATE, text)
        examples = uncomment_examples(text)
        # The examples must cover what an operator looks for.
        for what in ("tls = {", "password_file", "acl_file", 'kind = "mqtt"', 'kind = "kafka"',
                     'bind = "0.0.0.0:1883"', "token", "max_age"):
            self.assertIn(what, examples)
        path = os.path.join(WORK, "all-examples.toml")
        with open(path, "w") as f:
            f.write(examples)
        out = checked([TRIBUTARYD, "--check-config", path])
        self.assertRegex(out, r"3 listener\(s\), 2 stream\(s\), 2 exporter\(s\)")

    def test_changelog_names_this_version(self):
        root = os.path.join(WORK, "x-changelog")
        checked(["dpkg-deb", "-x", DEB, root])
        out = checked(["dpkg-parsechangelog", "-l", "-", "-S", "Version"],
                      input=checked(["zcat", root + "/usr/share/doc/tributary/changelog.gz"]))
        self.assertEqual(out.strip(), project_version())

    def test_unit_is_hardened(self):
        with open(os.path.join(SRC_DIR, "packaging/tributary.service")) as f:
            s = unit_settings(f.read())
        self.assertEqual(s["Type"], ["notify"])
        self.assertEqual(s["Restart"], ["on-failure"])
        self.assertEqual(s["User"], ["tributary"])
        self.assertEqual(s["StateDirectory"], ["tributary"])
        self.assertEqual(s["CapabilityBoundingSet"], [""])
        self.assertTrue(int(s["WatchdogSec"][0]) > 0)
        for k in ("ProtectSystem", "ProtectHome", "NoNewPrivileges", "PrivateTmp",
                  "RestrictAddressFamilies"):
            self.assertIn(k, s)
        self.assertEqual(s["ProtectSystem"], ["strict"])
        if not shutil.which("systemd-analyze"):
            self.skipTest("systemd-analyze not installed")
        r = run(["systemd-analyze", "security", "--offline=yes", "--no-pager",
                 os.path.join(SRC_DIR, "packaging/tributary.service")], timeout=120)
        m = re.search(r"Overall exposure level for tributary\.service: (\d+\.\d+)", r.stdout)
        self.assertIsNotNone(m, r.stdout + r.stderr)
        # The README quotes 1.2; a change that opens the sandbox fails here.
        self.assertLessEqual(float(m.group(1)), 1.2, r.stdout)


def stat_string(mode):
    out = ""
    for shift in (6, 3, 0):
        bits = (mode >> shift) & 7
        out += ("r" if bits & 4 else "-") + ("w" if bits & 2 else "-") + ("x" if bits & 1 else "-")
    return out


class ScratchRoot:
    """A copy-on-write view of this machine's / (overlayfs, upper layer on a
    tmpfs) with /dev, /proc and a fresh /run and /tmp. Everything dpkg and the
    maintainer scripts change lands in the upper layer; the mounts live in this
    process's private mount namespace."""

    def __init__(self, work, for_chroot=True):
        self.work = work
        self.path = os.path.join(work, "root")
        layers = os.path.join(work, "layers")
        os.makedirs(self.path)
        os.makedirs(layers)
        checked(["mount", "-t", "tmpfs", "-o", "size=2g", "tmpfs", layers])
        os.makedirs(layers + "/upper")
        os.makedirs(layers + "/work")
        checked(["mount", "-t", "overlay", "overlay", "-o",
                 "lowerdir=/,upperdir=%s/upper,workdir=%s/work" % (layers, layers), self.path])
        if for_chroot:
            checked(["mount", "--rbind", "/dev", self.path + "/dev"])
            checked(["mount", "-t", "proc", "proc", self.path + "/proc"])
            checked(["mount", "-t", "tmpfs", "tmpfs", self.path + "/run"])
            checked(["mount", "-t", "tmpfs", "tmpfs", self.path + "/tmp"])

    def write(self, path, text, mode=0o644):
        os.makedirs(os.path.dirname(self.file(path)), exist_ok=True)
        with open(self.file(path), "w") as f:
            f.write(text)
        os.chmod(self.file(path), mode)

    def remove(self):
        """Unmount everything, then delete the work directory, but only when
        nothing is mounted below it any more: /dev there is the host's /dev."""
        subprocess.run(["umount", "-R", self.path], capture_output=True)
        subprocess.run(["umount", os.path.join(self.work, "layers")], capture_output=True)
        with open("/proc/self/mountinfo") as f:
            mounted = [l.split()[4] for l in f if l.split()[4].startswith(self.work + "/")]
        if mounted:
            raise AssertionError("still mounted, %s left in place: %r" % (self.work, mounted))
        shutil.rmtree(self.work, ignore_errors=True)

    def __call__(self, *cmd, timeout=300, check=True, env=None):
        r = subprocess.run(["chroot", self.path] + list(cmd), capture_output=True, text=True,
                           timeout=timeout, env=env or clean_env())
        if check and r.returncode != 0:
            raise AssertionError("in scratch root: %s exited %d:\n%s\n%s" %
                                 (" ".join(cmd), r.returncode, r.stdout, r.stderr))
        return r

    def file(self, path):
        return self.path + path

    def read(self, path):
        with open(self.file(path)) as f:
            return f.read()


def host_state():
    """What a leak from the scratch root would change on this machine."""
    with open("/etc/passwd") as f:
        passwd = f.read()
    with open("/etc/group") as f:
        group = f.read()
    return passwd, group, os.path.exists(STATE), os.path.exists("/etc/tributary")


def upgraded_deb(work, dest):
    """The same package with a higher version, as the next release would be."""
    tree = os.path.join(work, "next")
    checked(["dpkg-deb", "-R", DEB, tree])
    control = os.path.join(tree, "DEBIAN", "control")
    with open(control) as f:
        text = f.read()
    version = project_version() + "+next1"
    with open(control, "w") as f:
        f.write(re.sub(r"(?m)^Version: .*$", "Version: " + version, text))
    checked(["dpkg-deb", "--root-owner-group", "-b", tree, dest], timeout=300)
    return version


def stop_with_parent():
    """In a child before exec: SIGTERM when this test dies (nspawn then powers
    the container off)."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def sanitized_build():
    with open(os.path.join(BUILD_DIR, "CMakeCache.txt")) as f:
        return re.search(r"(?m)^TRIB_SANITIZE:BOOL=ON$", f.read()) is not None


def clean_env():
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           "LANG": "C.UTF-8", "DEBIAN_FRONTEND": "noninteractive"}
    for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
        if k in os.environ:
            env[k] = os.environ[k]
    return env


class NotifySocket:
    """The daemon's end of sd_notify: a datagram socket the test reads."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        os.chmod(path, 0o666)  # the daemon runs as the service user
        self.messages = []

    def wait_for(self, line, timeout=60.0):
        deadline = time.monotonic() + timeout
        while not any(line in m.split("\n") for m in self.messages):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no %s from tributaryd; got %r" % (line, self.messages))
            self.sock.settimeout(left)
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except socket.timeout:
                pass

    def close(self):
        self.sock.close()


@unittest.skipUnless(os.environ.get(NS_MARK) == "1",
                     "needs root and a private mount namespace (unshare --mount)")
class ScratchInstall(unittest.TestCase):
    def setUp(self):
        self.work = tempfile.mkdtemp(prefix="trib-pkg-root-")
        self.root = ScratchRoot(self.work)
        self.addCleanup(self.root.remove)
        self.daemon = None
        r = self.root("dpkg-query", "-W", "-f=${Status}", "tributary", check=False)
        if "installed" in r.stdout or "config-files" in r.stdout:
            self.root("dpkg", "--purge", "tributary")  # only inside the scratch root
        self.root("rm", "-rf", STATE, "/etc/tributary")
        # man-db rebuilds its whole index after any install; not what is tested here.
        self.root("rm", "-f", "/var/lib/man-db/auto-update")
        shutil.copy(DEB, self.root.file("/tmp/tributary.deb"))
        self.host = host_state()

    def tearDown(self):
        if self.daemon and self.daemon.poll() is None:
            self.daemon.kill()
            self.daemon.wait()
        self.assertEqual(host_state(), self.host, "the host changed")

    def dpkg(self, *args):
        return self.root("dpkg", "--force-confold", *args, timeout=300)

    def status(self):
        return self.root("dpkg-query", "-W", "-f=${Status} ${Version}", "tributary",
                         check=False).stdout

    def start_as_unit(self):
        """Start the installed daemon as systemd would from the installed unit:
        its ExecStart, as its User/Group, with STATE_DIRECTORY and a notify socket."""
        unit = unit_settings(self.root.read(UNIT))
        notify_path = self.root.file("/run/notify.sock")
        if os.path.exists(notify_path):
            os.unlink(notify_path)
        self.notify = NotifySocket(notify_path)
        env = clean_env()
        env["STATE_DIRECTORY"] = "/var/lib/" + unit["StateDirectory"][0]
        env["NOTIFY_SOCKET"] = "/run/notify.sock"
        self.log_path = os.path.join(self.work, "tributaryd.log")
        log = open(self.log_path, "ab")
        self.daemon = subprocess.Popen(
            ["chroot", self.root.path, "setpriv", "--reuid=" + unit["User"][0],
             "--regid=" + unit["Group"][0], "--init-groups", "--no-new-privs",
             "--pdeathsig=SIGKILL", "--"] +
            unit["ExecStart"][0].split(), stdout=log, stderr=subprocess.STDOUT, env=env, cwd="/")
        log.close()
        try:
            self.notify.wait_for("READY=1")
        except AssertionError:
            raise AssertionError("not ready:\n" + self.log())

    def stop(self):
        self.daemon.send_signal(signal.SIGTERM)
        rc = self.daemon.wait(60)
        self.notify.wait_for("STOPPING=1", 5)
        self.notify.close()
        self.assertEqual(rc, 0, self.log())

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def test_install_run_upgrade_remove_purge(self):
        root = self.root
        out = self.dpkg("-i", "/tmp/tributary.deb")
        self.assertTrue(self.status().startswith("install ok installed"), self.status())

        # postinst: a system user and group, the state directory, the config's owner.
        pw = root("getent", "passwd", "tributary").stdout.strip().split(":")
        self.assertLess(int(pw[2]), 1000, pw)
        self.assertEqual(pw[5], STATE)
        self.assertIn(pw[6], ("/usr/sbin/nologin", "/sbin/nologin", "/bin/false"))
        gid = int(root("getent", "group", "tributary").stdout.split(":")[2])
        self.assertEqual(int(pw[3]), gid)
        st = os.stat(root.file(STATE))
        self.assertEqual((st.st_uid, st.st_gid, st.st_mode & 0o777), (int(pw[2]), gid, 0o750))
        st = os.stat(root.file(CONF))
        self.assertEqual((st.st_uid, st.st_gid, st.st_mode & 0o777), (0, gid, 0o640))
        # Enabled for boot (by deb-systemd-helper), not started: systemd is not running here.
        link = root.file("/etc/systemd/system/multi-user.target.wants/tributary.service")
        self.assertEqual(os.readlink(link), UNIT)
        self.assertNotIn("Failed", out.stdout + out.stderr)

        # The unit checks out against the installed files.
        if os.path.exists(root.file("/usr/bin/systemd-analyze")):
            r = root("systemd-analyze", "verify", UNIT, check=False)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertNotIn("tributary", r.stdout + r.stderr)

        # The shipped configuration, with its ports moved to free ones.
        mqtt_port, admin_port = free_port(), free_port()
        conf = root.read(CONF)
        self.assertIn('"127.0.0.1:1883"', conf)
        self.assertIn('"127.0.0.1:9883"', conf)
        edited = conf.replace('"127.0.0.1:1883"', '"127.0.0.1:%d"' % mqtt_port).replace(
            '"127.0.0.1:9883"', '"127.0.0.1:%d"' % admin_port)
        # One exporter of each module (bridge/sink_module.h), loaded from
        # /usr/lib/tributary; nobody listens upstream, so they keep retrying.
        edited += ('\n[[exporter]]\nname = "pkg-mqtt"\nkind = "mqtt"\nurl = "mqtt://127.0.0.1:%d"\n'
                   'streams = ["default"]\n\n[[exporter]]\nname = "pkg-kafka"\nkind = "kafka"\n'
                   'brokers = "127.0.0.1:%d"\nstreams = ["default"]\n' % (free_port(), free_port()))
        with open(root.file(CONF), "w") as f:
            f.write(edited)

        self.start_as_unit()
        for kind in ("mqtt", "kafka"):
            self.assertIn("exporter pkg-%s (%s) started" % (kind, kind), self.log())
        c = RawClient(mqtt_port)
        c.connect("pkg-test")
        c.publish("sensors/pkg", b"kept across upgrades", qos=1)  # PUBACK after commit
        c.disconnect()
        r = root("tributary", "status")  # finds the admin port in /etc/tributary/tributary.toml
        self.assertTrue(r.stdout.startswith("tributaryd " + project_version()), r.stdout)
        self.assertRegex(r.stdout, r"(?m)^default\s+1\s+1\s+1\s", r.stdout)
        self.stop()
        data = [f for f in os.listdir(root.file(STATE))]
        self.assertTrue(data, "nothing written to " + STATE)
        for name in data:
            self.assertEqual(os.stat(os.path.join(root.file(STATE), name)).st_uid, int(pw[2]), name)

        # Upgrade: the edited conffile stays (no prompt: the packaged one did not
        # change), the data stays and the new daemon reads it.
        version = upgraded_deb(self.work, self.root.file("/tmp/next.deb"))
        self.dpkg("-i", "/tmp/next.deb")
        self.assertEqual(self.status(), "install ok installed " + version)
        self.assertEqual(root.read(CONF), edited)
        self.assertFalse(glob.glob(root.file(CONF) + ".dpkg-*"))
        self.start_as_unit()
        c = RawClient(mqtt_port)
        c.connect("pkg-test-2")
        c.subscribe(("$replay/earliest/sensors/#", 1))
        msg = c.messages(1, timeout=30)[0]
        self.assertEqual((msg.type, msg.topic, msg.payload), (PUBLISH, "sensors/pkg", b"kept across upgrades"))
        c.disconnect()
        self.stop()

        # Remove: programs gone; configuration, data and user kept.
        self.dpkg("--remove", "tributary")
        self.assertTrue(self.status().startswith("deinstall ok config-files"), self.status())
        self.assertFalse(os.path.exists(root.file("/usr/sbin/tributaryd")))
        self.assertFalse(os.path.exists(root.file(UNIT)))
        self.assertEqual(root.read(CONF), edited)
        self.assertEqual(sorted(os.listdir(root.file(STATE))), sorted(data))
        self.assertEqual(root("getent", "passwd", "tributary", check=False).returncode, 0)

        # Purge: configuration, data, user, group and enablement all gone.
        self.dpkg("--purge", "tributary")
        self.assertEqual(self.status(), "")
        self.assertFalse(os.path.exists(root.file("/etc/tributary")))
        self.assertFalse(os.path.exists(root.file(STATE)))
        self.assertNotEqual(root("getent", "passwd", "tributary", check=False).returncode, 0)
        self.assertNotEqual(root("getent", "group", "tributary", check=False).returncode, 0)
        self.assertFalse(os.path.lexists(link))


@unittest.skipUnless(os.environ.get(NS_MARK) == "1" and shutil.which("systemd-nspawn"),
                     "needs root, a private mount namespace and systemd-nspawn (systemd-container)")
class UnderSystemd(unittest.TestCase):
    """The package in a container booted with systemd as PID 1 (systemd-nspawn
    on the scratch root, private network): the real sandbox, readiness,
    watchdog, reload, restart on upgrade, the low-port drop-in, clean stop.
    packaging_boot.sh does the steps inside and writes facts for these asserts."""

    def setUp(self):
        self.work = tempfile.mkdtemp(prefix="trib-pkg-boot-")
        self.root = ScratchRoot(self.work, for_chroot=False)
        self.addCleanup(self.root.remove)
        self.host = host_state()
        root = self.root
        subprocess.run(["chroot", root.path, "dpkg", "--purge", "tributary"], capture_output=True)
        for path in (STATE, "/etc/tributary", "/usr/sbin/policy-rc.d", "/var/lib/man-db/auto-update"):
            subprocess.run(["rm", "-rf", root.file(path)])  # policy-rc.d would forbid starting services
        shutil.copy(DEB, root.file("/root/tributary.deb"))
        upgraded_deb(self.work, root.file("/root/next.deb"))
        shutil.copy(os.path.join(os.path.dirname(os.path.abspath(__file__)), "packaging_boot.sh"),
                    root.file("/root/packaging_boot.sh"))
        # Boot to a target of our own: basic system services, none of this
        # machine's daemons (a broker already on port 1883, databases...).
        root.write("/etc/systemd/system/packaging-test.target",
                   "[Unit]\nRequires=basic.target packaging-test.service\nAfter=basic.target\n")
        root.write("/etc/systemd/system/packaging-test.service",
                   "[Unit]\nAfter=basic.target\n[Service]\nType=oneshot\n"
                   "ExecStart=/bin/sh /root/packaging_boot.sh\n")
        if sanitized_build():
            # LeakSanitizer needs ptrace, which the unit's sandbox refuses; the
            # sanitizer's own needs are not part of the production sandbox.
            root.write("/etc/systemd/system/tributary.service.d/sanitizer.conf",
                       "[Service]\nEnvironment=ASAN_OPTIONS=detect_leaks=0\n")

    def tearDown(self):
        self.assertEqual(host_state(), self.host, "the host changed")

    def boot(self):
        p = subprocess.Popen(["systemd-nspawn", "--quiet", "--boot", "--private-network",
                              "--register=no", "--keep-unit", "-D", self.root.path,
                              "systemd.unit=packaging-test.target"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             preexec_fn=stop_with_parent)
        try:
            console, _ = p.communicate(timeout=480)
        except subprocess.TimeoutExpired:
            p.send_signal(signal.SIGTERM)  # nspawn asks the container to power off
            try:
                console, _ = p.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
                console, _ = p.communicate()
        facts = {}
        try:
            with open(self.root.file("/root/facts")) as f:
                for line in f:
                    k, _, v = line.rstrip("\n").partition("=")
                    facts[k] = v
            with open(self.root.file("/root/trace")) as f:
                trace = f.read()
        except OSError:
            trace = ""
        return facts, trace + "\n---- console ----\n" + console.decode(errors="replace")[-4000:]

    def test_unit_under_systemd(self):
        facts, trace = self.boot()
        want = {
            "install_rc": "0", "enabled": "enabled", "active": "active",
            "cap_eff": "0000000000000000", "cap_bnd": "0000000000000000", "no_new_privs": "1",
            "seccomp": "2", "state_owner": "tributary:tributary:750", "publish_rc": "0",
            "status": "records 1", "watchdog_usec": "30s", "watchdog_pinged": "yes",
            "reload_rc": "0", "reload_same_pid": "yes", "reload_logged": "1",
            "upgrade_rc": "0", "upgrade_active": "active", "upgrade_new_pid": "yes",
            "replayed": "first", "low_port_error": "1", "low_port_with_dropin_rc": "0",
            "low_port_publish_rc": "0", "stop_result": "success", "stop_status": "0",
            "remove_rc": "0", "after_remove_active": "inactive", "after_remove_data": "1",
            "purge_rc": "0", "after_purge_state": "gone", "after_purge_user": "gone",
            "finished": "yes",
        }
        got = {k: facts.get(k) for k in want}
        self.assertEqual(got, want, trace)
        self.assertEqual(facts["uid"], facts["tributary_uid"], trace)
        self.assertNotEqual(facts["low_port_without_dropin_rc"], "0", trace)


if __name__ == "__main__":
    unittest.main(verbosity=2)
