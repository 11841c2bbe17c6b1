"""minitornado behind a real nginx, configured by deploy/nginx.conf, the example users copy.

Each test starts two backends, each a minitornado process serving a Unix socket
(``netutil.bind_unix_socket``) with ``xheaders=True``, and nginx in front of them: the file
deploy/nginx.conf with its paths swapped for a temporary directory (sockets, certificate,
pid, logs, temporary files) and its ports for free ones, run as a foreground child
(``daemon off``) that the test kills at the end. TLS is terminated by nginx with a
certificate from a test authority (``trustme``).

nginx is needed: outside CI, without it, these tests skip and say so; in CI (``CI`` set, as
.ci/run does, which also installs it) they fail.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "deploy" / "nginx.conf"
TIMEOUT = 10.0

BACKEND = textwrap.dedent("""
    import asyncio, hashlib, os, signal, sys
    from minitornado import web
    from minitornado.httpserver import HTTPServer
    from minitornado.netutil import bind_unix_socket

    class Who(web.RequestHandler):
        async def get(self):
            await asyncio.sleep(float(self.get_argument("delay", "0")))
            self.write({"pid": os.getpid(), "remote_ip": self.request.remote_ip,
                        "protocol": self.request.protocol})

    class Upload(web.RequestHandler):
        def post(self):
            body = self.request.body
            self.write({"length": len(body), "sha256": hashlib.sha256(body).hexdigest()})

    async def main(path):
        app = web.Application([("/who", Who), ("/upload", Upload)])
        server = HTTPServer(app, xheaders=True, max_body_size=64 << 20)
        # 0o666: nginx's workers may run as another user than the test.
        server.add_sockets([bind_unix_socket(path, mode=0o666)])
        stop = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(signum, stop.set)
        print("ready", flush=True)
        await stop.wait()
        cut = await server.shutdown(5)
        print(f"drained, cut {cut}", flush=True)

    asyncio.run(main(sys.argv[1]))
""")


def _nginx() -> str:
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("nginx is required in CI: .ci/run installs Debian's nginx-light")
    pytest.skip("no nginx here (apt-get install nginx-light); CI installs it")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Site:
    """nginx on ``port`` (TLS) and ``plain_port`` (the redirect), two backends behind it."""

    port: int
    plain_port: int
    tls: ssl.SSLContext  # trusts the test authority
    backends: list[subprocess.Popen[str]]
    nginx: subprocess.Popen[str]
    error_log: Path

    def connection(self) -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection(
            "localhost", self.port, context=self.tls, timeout=TIMEOUT
        )

    def get_json(self, conn: http.client.HTTPSConnection, path: str,
                 headers: dict[str, str] | None = None) -> tuple[int, dict]:  # fmt: skip
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        body = response.read()
        return response.status, json.loads(body) if response.status == 200 else {}


def nginx_conf(tmp: Path, sockets: list[Path], port: int, plain_port: int, cert: Path,
               key: Path) -> str:  # fmt: skip
    """deploy/nginx.conf, with every path and port it names replaced for this test."""
    text = EXAMPLE.read_text()
    user = "user root;" if os.geteuid() == 0 else ""  # (as root, workers would be www-data)
    kinds = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    temp_paths = "\n".join(f"    {kind}_temp_path {tmp}/{kind};" for kind in kinds)
    replacements = {
        "user www-data;": user,
        "pid /run/nginx.pid;": f"pid {tmp}/nginx.pid;",
        "access_log /var/log/nginx/access.log;": f"access_log {tmp}/access.log;",
        "error_log /var/log/nginx/error.log;": f"error_log {tmp}/error.log;",
        "server unix:/run/minitornado/backend-0.sock;": f"server unix:{sockets[0]};",
        "server unix:/run/minitornado/backend-1.sock;": f"server unix:{sockets[1]};",
        "listen 80;": f"listen 127.0.0.1:{plain_port};",
        "listen 443 ssl;": f"listen 127.0.0.1:{port} ssl;",
        "/etc/ssl/example.com/fullchain.pem": str(cert),
        "/etc/ssl/example.com/privkey.pem": str(key),
        "http {": "http {\n" + temp_paths,
    }
    for old, new in replacements.items():
        assert text.count(old) == 1, f"deploy/nginx.conf no longer says {old!r} once"
        text = text.replace(old, new)
    return text


@contextlib.contextmanager
def site(tmp_path: Path) -> Iterator[Site]:
    nginx = _nginx()
    authority = trustme.CA()
    issued = authority.issue_cert("localhost", "127.0.0.1")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    issued.cert_chain_pems[0].write_to_path(str(cert))
    for pem in issued.cert_chain_pems[1:]:
        pem.write_to_path(str(cert), append=True)
    issued.private_key_pem.write_to_path(str(key))
    tls = ssl.create_default_context()
    authority.configure_trust(tls)
    os.chmod(tmp_path, 0o755)  # nginx's workers reach the sockets through this directory
    sockets = [tmp_path / f"backend-{n}.sock" for n in range(2)]
    port, plain_port = _free_port(), _free_port()
    conf = tmp_path / "nginx.conf"
    conf.write_text(nginx_conf(tmp_path, sockets, port, plain_port, cert, key))
    started: list[subprocess.Popen[str]] = []
    try:
        for path in sockets:
            backend = subprocess.Popen(
                [sys.executable, "-c", BACKEND, str(path)], cwd=ROOT, text=True,
                stdout=subprocess.PIPE, start_new_session=True,
            )  # fmt: skip
            started.append(backend)
            assert backend.stdout is not None and backend.stdout.readline() == "ready\n"
        server = subprocess.Popen(
            [nginx, "-p", str(tmp_path), "-e", str(tmp_path / "error.log"), "-c", str(conf),
             "-g", "daemon off;"],
            text=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            start_new_session=True,
        )  # fmt: skip
        started.append(server)
        deadline = time.monotonic() + TIMEOUT
        while not _accepts(port):
            assert server.poll() is None, server.communicate()[1]
            assert time.monotonic() < deadline, "nginx did not listen"
            time.sleep(0.05)
        yield Site(port, plain_port, tls, started[:2], server, tmp_path / "error.log")
    finally:
        for process in started:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.communicate(timeout=TIMEOUT)


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def test_forged_client_headers_do_not_reach_the_backend_and_protocol_is_https(
    tmp_path: Path,
) -> None:
    # Scenario: through nginx (TLS), a client sends X-Real-IP, X-Forwarded-For, X-Scheme and
    # X-Forwarded-Proto of its own choosing. nginx sets them all itself, so with
    # xheaders=True the backend sees the client's real address (127.0.0.1) and "https";
    # without the forgery, the same. The plain port only redirects to HTTPS.
    with site(tmp_path) as web:
        conn = web.connection()
        forged = {"X-Real-IP": "6.6.6.6", "X-Forwarded-For": "6.6.6.6",
                  "X-Scheme": "http", "X-Forwarded-Proto": "http"}  # fmt: skip
        status, seen = web.get_json(conn, "/who", forged)
        assert status == 200
        assert (seen["remote_ip"], seen["protocol"]) == ("127.0.0.1", "https")
        status, seen = web.get_json(conn, "/who")
        assert (seen["remote_ip"], seen["protocol"]) == ("127.0.0.1", "https")
        conn.close()
        plain = http.client.HTTPConnection("127.0.0.1", web.plain_port, timeout=TIMEOUT)
        plain.request("GET", "/who", headers={"Host": "localhost"})
        response = plain.getresponse()
        assert response.status == 301
        assert response.getheader("Location") == "https://localhost/who"
        plain.close()


def test_two_thousand_requests_through_nginx_are_all_200_from_both_backends(
    tmp_path: Path,
) -> None:
    # Scenario: 8 keep-alive client connections send 250 GETs each through nginx, which
    # keeps its own connections to the backends alive: all 2,000 answers are 200, and both
    # backends answered some.
    with site(tmp_path) as web:

        def client(_: int) -> list[tuple[int, int]]:
            conn = web.connection()
            answers = []
            for _ in range(250):
                status, seen = web.get_json(conn, "/who")
                answers.append((status, seen.get("pid", 0)))
            conn.close()
            return answers

        started = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            answers = [a for batch in pool.map(client, range(8)) for a in batch]
        took = time.monotonic() - started
        assert len(answers) == 2000
        assert {status for status, _ in answers} == {200}
        pids = {pid for _, pid in answers}
        assert pids == {backend.pid for backend in web.backends}, pids
        print(f"2,000 requests through nginx in {took:.2f} s")


def test_a_20_mb_upload_arrives_intact(tmp_path: Path) -> None:
    # Scenario: 20 MB of random bytes POSTed through nginx (which buffers the body, then
    # sends it on with a Content-Length): the backend received every byte, in order.
    body = os.urandom(20 << 20)
    with site(tmp_path) as web:
        conn = web.connection()
        conn.request("POST", "/upload", body=body,
                     headers={"Content-Type": "application/octet-stream"})  # fmt: skip
        response = conn.getresponse()
        assert response.status == 200
        seen = json.loads(response.read())
        conn.close()
    assert seen == {"length": len(body), "sha256": hashlib.sha256(body).hexdigest()}


def test_one_backend_shut_down_gracefully_during_load_fails_no_get(tmp_path: Path) -> None:
    # Scenario: 6 keep-alive clients send GETs that take 20 ms each, back to back, for
    # 2.5 s; 0.8 s in, backend 0 gets SIGTERM and drains (HTTPServer.shutdown()). Its
    # requests in progress are answered, and what nginx sends it afterwards (on a kept-alive
    # connection it has just closed, or a refused new one) nginx retries on backend 1
    # (proxy_next_upstream). The clients see no failure, and only backend 1 answers at the end.
    with site(tmp_path) as web:
        stop_at = time.monotonic() + 2.5
        failures: list[str] = []
        answered: list[tuple[float, int]] = []
        lock = threading.Lock()

        def client(_: int) -> None:
            conn = web.connection()
            while time.monotonic() < stop_at:
                try:
                    status, seen = web.get_json(conn, "/who?delay=0.02")
                except (OSError, http.client.HTTPException) as e:
                    failures.append(repr(e))
                    conn.close()
                    conn = web.connection()
                    continue
                with lock:
                    if status != 200:
                        failures.append(f"status {status}")
                    answered.append((time.monotonic(), seen.get("pid", 0)))
            conn.close()

        with ThreadPoolExecutor(6) as pool:
            running = [pool.submit(client, n) for n in range(6)]
            time.sleep(0.8)
            stopped_at = time.monotonic()
            web.backends[0].send_signal(signal.SIGTERM)
            for future in running:
                future.result(timeout=TIMEOUT)
        out, _ = web.backends[0].communicate(timeout=TIMEOUT)
        assert web.backends[0].returncode == 0
        assert "drained, cut 0" in out
        assert failures == []
        first, second = (backend.pid for backend in web.backends)
        assert any(pid == first for _, pid in answered)  # backend 0 served before
        late = [pid for at, pid in answered if at > stopped_at + 0.5]
        assert late and set(late) == {second}
        print(f"{len(answered)} GETs, {sum(1 for at, _ in answered if at > stopped_at)} of "
              "them after the SIGTERM, none failed")  # fmt: skip
