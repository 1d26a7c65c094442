#!/usr/bin/env python3
"""Memory per idle TLS connection, Tributary against Mosquitto in the same run.

Called by bench/run.sh (`make bench`) after compare.py. Both brokers get one
TLS listener with the same self-signed P-256 certificate (made here with the
openssl CLI); this script opens BENCH_TLS_CONNECTIONS (1000) TLS 1.2
connections to each, sends an MQTT 3.1.1 CONNECT on every one and waits for
the CONNACKs, then reads the broker's VmRSS: per connection = (RSS with the
connections - RSS before) / N. Rounds alternate the brokers (BENCH_ROUNDS).
Writes the "## Idle TLS connections" section of bench/RESULTS.md.
A benchmark never asserts.
"""
import os
import resource
import socket
import ssl
import statistics
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402
from compare import log, replace_section  # noqa: E402

COUNT = int(os.environ.get("BENCH_TLS_CONNECTIONS", "1000"))


def make_cert(workdir):
    cert, key = os.path.join(workdir, "cert.pem"), os.path.join(workdir, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1", "-keyout", key, "-out", cert],
                   check=True, capture_output=True)
    # Mosquitto drops to its own user before reading them.
    for p in (workdir, cert, key):
        os.chmod(p, 0o755 if p == workdir else 0o644)
    return cert, key


class TlsTributary(compare.Tributary):
    tls = ""

    def config_text(self, data_dir):
        return super().config_text(data_dir).replace(
            '[[listener]]\nbind = "127.0.0.1:0"\n', '[[listener]]\nbind = "127.0.0.1:0"\n' + self.tls, 1)


def open_connections(port, n):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2  # what Debian 12's mbedTLS speaks
    conns = []
    for i in range(n):
        s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), 10))
        cid = ("tls-idle-%05d" % i).encode()
        body = b"\x00\x04MQTT\x04\x02\x00\x00" + struct.pack(">H", len(cid)) + cid
        s.sendall(bytes([0x10, len(body)]) + body)
        ack = s.recv(4)
        if len(ack) != 4 or ack[0] != 0x20 or ack[3] != 0:
            raise RuntimeError("no CONNACK on connection %d: %r" % (i, ack))
        conns.append(s)
    return conns


def one_round(cls, rnd, workdir):
    b = cls(workdir).start("tls-%d" % rnd)
    conns = []
    try:
        time.sleep(1)
        before = b.rss_kib()
        conns = open_connections(b.port, COUNT)
        time.sleep(2)  # idle: Tributary gives TLS record buffers back after a tick without traffic
        after = b.rss_kib()
        return (after - before) / COUNT, before
    finally:
        for s in conns:
            s.close()
        b.stop()
        b.cleanup()


def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, COUNT + 256)), hard))
    workdir = tempfile.mkdtemp(prefix="tls-idle-")
    cert, key = make_cert(workdir)
    TlsTributary.tls = 'tls = { cert = "%s", key = "%s" }\n' % (cert, key)
    compare.Mosquitto.extra_conf = "certfile %s\nkeyfile %s\n" % (cert, key)
    per = {"tributary": [], "mosquitto": []}
    for rnd in range(1, compare.ROUNDS + 1):
        for name, cls in (("tributary", TlsTributary), ("mosquitto", compare.Mosquitto)):
            log("== idle TLS connections round %d %s" % (rnd, name))
            per[name].append(one_round(cls, rnd, workdir)[0])
    t, m = statistics.median(per["tributary"]), statistics.median(per["mosquitto"])
    rows = ["| broker | KiB per idle TLS connection, median | rounds |", "| --- | ---: | --- |"]
    for name, v in (("tributary", t), ("mosquitto", m)):
        rows.append("| %s | %.1f | %s |" % (name, v, " ".join("%.1f" % x for x in per[name])))
    L = ["## Idle TLS connections (bench/tls_idle.py)", "",
         "Written by `make bench` on %s. %d TLS 1.2 connections (ECDHE-ECDSA, P-256 certificate), each "
         "with an MQTT 3.1.1 CONNECT answered, held idle for 2 s; per connection = VmRSS difference / %d. "
         "Tributary/Mosquitto: %.2f." % (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), COUNT, COUNT,
                                         t / m if m else float("nan")), ""] + rows + [
         "", "mbedTLS 2.28 as Debian 12 builds it keeps a 16 KiB input and a 16 KiB output record buffer "
         "for the whole life of every TLS session, zeroed at setup (MBEDTLS_SSL_VARIABLE_BUFFER_LENGTH is "
         "off). Tributary gives their pages back, all but the first of each, once a connection has been "
         "a tick (0.5-1 s) without traffic (tls::Session::ReleaseIdleBuffers); without that an idle TLS "
         "connection held 36.5 KiB here."]
    print("\n".join(L))
    replace_section(compare.RESULTS, L[0], "\n".join(L))


if __name__ == "__main__":
    main()
