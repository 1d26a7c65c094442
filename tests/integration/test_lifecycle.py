"""Daemon lifecycle with the real binary: start, ready, SIGTERM -> exit 0;
bad config -> exit 2 with file, line and key; a second daemon on the same data
directory; a port already in use; --check-config / --version / --help."""
import os
import signal
import socket
import unittest

from harness import TRIBUTARYD, DaemonTest, run, wait_for


class Lifecycle(DaemonTest):
    def test_start_ready_then_sigterm_exits_zero(self):
        d = self.daemon().start()
        self.assertGreater(d.port, 0)
        socket.create_connection(("127.0.0.1", d.port), 2).close()
        self.assertEqual(d.stop(), 0)
        self.assertIn("stopped", d.output())

    def test_sigint_exits_zero(self):
        d = self.daemon().start()
        d.signal(signal.SIGINT)
        self.assertEqual(d.proc.wait(20), 0)

    def test_sighup_with_bad_config_keeps_running(self):
        d = self.daemon().start()
        with open(d.config_path(), "a") as f:
            f.write("\nnot_a_key = 1\n")
        d.signal(signal.SIGHUP)
        wait_for(lambda: "keeping the running configuration" in d.output(), 10, "reload message")
        self.assertIn("not_a_key", d.output())
        socket.create_connection(("127.0.0.1", d.port), 2).close()
        self.assertEqual(d.stop(), 0)

    def test_bad_config_exits_two_naming_file_line_key(self):
        d = self.daemon('[limits]\nmax_inflight = "many"\n')
        d.write_config()
        r = run([TRIBUTARYD, "--config", d.config_path()])
        self.assertEqual(r.returncode, 2)
        self.assertIn(d.config_path() + ":", r.stderr)
        self.assertIn("limits.max_inflight", r.stderr)
        self.assertIn("expected an integer", r.stderr)

    def test_check_config(self):
        d = self.daemon('[[stream]]\nname = "t"\nsubjects = ["a/#"]\n')
        d.write_config()
        r = run([TRIBUTARYD, "--check-config", d.config_path()])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("configuration OK", r.stdout)
        bad = os.path.join(d.workdir, "bad.toml")
        with open(bad, "w") as f:
            f.write('[[stream]]\nname = "t"\nsubjects = []\n')
        r = run([TRIBUTARYD, "--check-config", bad])
        self.assertEqual(r.returncode, 2)
        self.assertIn("bad.toml:3", r.stderr)
        self.assertIn("stream[0].subjects", r.stderr)

    def test_default_node_id_from_a_dotted_host_name(self):
        # The default node_id is the host name up to its first dot; a host name
        # such as gw1.example.net must not make the built-in default invalid.
        d = self.daemon()
        d.write_config()
        probe = run(["unshare", "-u", "true"])
        if probe.returncode != 0:
            self.skipTest("cannot create a UTS namespace here: %s" % probe.stderr.strip())
        r = run(["unshare", "-u", "sh", "-c", 'hostname gw1.example.net && exec "$0" --check-config "$1"',
                 TRIBUTARYD, d.config_path()])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("configuration OK", r.stdout)

    def test_missing_config_file(self):
        r = run([TRIBUTARYD, "--config", "/nonexistent/t.toml"])
        self.assertEqual(r.returncode, 2)
        self.assertIn("/nonexistent/t.toml", r.stderr)

    def test_version_and_help(self):
        r = run([TRIBUTARYD, "--version"])
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"tributaryd \d+\.\d+\.\d+")
        r = run([TRIBUTARYD, "--help"])
        self.assertEqual(r.returncode, 0)
        self.assertIn("--check-config", r.stdout)
        r = run([TRIBUTARYD, "--no-such-flag"])
        self.assertEqual(r.returncode, 2)

    def test_readme_config_reference_is_generated(self):
        # The README's reference must be exactly what the key table produces.
        r = run([TRIBUTARYD, "--config-reference"])
        self.assertEqual(r.returncode, 0)
        readme = open(os.path.join(os.path.dirname(__file__), "../../README.md")).read()
        start = readme.index("<!-- config-reference")
        start = readme.index("\n", start) + 1
        end = readme.index("<!-- end config-reference -->")
        self.assertEqual(readme[start:end].strip(), r.stdout.strip(),
                         "README reference is stale: regenerate with tributaryd --config-reference")

    def test_second_daemon_on_same_data_dir_refused(self):
        a = self.daemon().start()
        b = self.daemon(data_dir=a.data_dir)
        b.start(wait=False)
        self.assertEqual(b.proc.wait(20), 1)
        self.assertIn("in use by another tributaryd", b.output())
        self.assertIsNone(a.proc.poll())
        self.assertEqual(a.stop(), 0)

    def test_port_in_use_names_address(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen()
            port = s.getsockname()[1]
            d = self.daemon('[[listener]]\nbind = "127.0.0.1:%d"\n' % port)
            d.start(wait=False)
            self.assertEqual(d.proc.wait(20), 1)
            self.assertIn("cannot listen on 127.0.0.1:%d" % port, d.output())
            self.assertIn("address already in use", d.output())


if __name__ == "__main__":
    unittest.main(verbosity=2)
