"""Tornado 6.6.1's own TLS tests, run against minitornado's server side.

Each test here loads a test module from the installed Tornado (tornado/test/*.py), swaps its
server-side imports for minitornado's (``httpserver``, ``web``, ``tcpserver``, ``netutil``,
``log``: a ``from tornado.X import a, b`` line becomes ``from minitornado.X import a, b``
when minitornado has every name), and runs chosen test classes with unittest in a fresh
interpreter. The client side stays Tornado's (``AsyncHTTPClient``, Tornado's ``IOStream``
and ``SSLIOStream``, ``tornado.testing``). Appended to each swapped module:

- ``tornado.testing.HTTPServer`` is set to minitornado's, so the server that
  ``AsyncHTTPSTestCase`` builds (``get_http_server``) is ours;
- the access loggers are quieted, as tornado/test/runtests.py quiets Tornado's;
- for iostream_test.py, two subclasses of Tornado's stream test classes whose *server*
  stream is minitornado's: ``SSLIOStream`` over TLS, ``IOStream`` over TCP.

The test certificate is Tornado's own (tornado/test/test.crt and test.key), copied next to
the swapped module because some tests look for it there.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import tornado
from support import swap_tornado_imports

TORNADO_TESTS = Path(tornado.__file__).parent / "test"
SWAPPED = ("httpserver", "web", "tcpserver", "netutil", "log")

COMMON_TAIL = """

# --- appended by minitornado's tests/test_tls_tornado_suite.py ---
import logging as _logging
import tornado.testing as _testing
import minitornado.httpserver as _mini_httpserver

_testing.HTTPServer = _mini_httpserver.HTTPServer  # AsyncHTTPTestCase's server is ours
_logging.getLogger("minitornado.access").setLevel(_logging.CRITICAL)
_logging.getLogger("tornado.access").setLevel(_logging.CRITICAL)
"""

IOSTREAM_TAIL = """
from minitornado.iostream import IOStream as _MiniIOStream
from minitornado.iostream import SSLIOStream as _MiniSSLIOStream


class MiniServerSSL(TestIOStreamSSL):
    def _make_server_iostream(self, connection, **kwargs):
        context = ssl_options_to_context(_server_ssl_options(), server_side=True)
        connection = ssl_wrap_socket(
            connection, context, server_side=True, do_handshake_on_connect=False
        )
        return _MiniSSLIOStream(connection, **kwargs)


class MiniServerTCP(TestIOStream):
    def _make_server_iostream(self, connection, **kwargs):
        return _MiniIOStream(connection, **kwargs)
"""


def swap_imports(source: str) -> str:
    """Tornado's test source with its server-side imports made minitornado's."""
    source = swap_tornado_imports(source, SWAPPED)
    ours = "from tornado import gen\nfrom minitornado import netutil\n"
    return source.replace("from tornado import gen, netutil\n", ours)


# Runs the named tests and prints, as its last line, {test id: "ok" | "FAIL" | "ERROR"}.
RUNNER = """
import json, sys, unittest

def each(suite):
    for test in suite:
        yield from each(test) if isinstance(test, unittest.TestSuite) else [test]

suite = unittest.defaultTestLoader.loadTestsFromNames(sys.argv[1:])
verdicts = {test.id(): "ok" for test in each(suite)}  # (a suite forgets its tests as it runs)
result = unittest.TestResult()
suite.run(result)
verdicts |= {test.id(): "skipped" for test, _ in result.skipped}
verdicts |= {test.id(): "FAIL" for test, _ in result.failures}
verdicts |= {test.id(): "ERROR" for test, _ in result.errors}
for test, trace in result.failures + result.errors:
    print(test.id(), trace, sep="\\n", file=sys.stderr)
print(json.dumps(verdicts))
"""


def run_swapped(test_file: str, tail: str, names: list[str], folder: Path) -> dict[str, str]:
    """Run ``names`` from the swapped ``test_file``; each test id -> "ok", "FAIL" or "ERROR"."""
    module = "swapped_" + test_file.removesuffix(".py")
    source = swap_imports((TORNADO_TESTS / test_file).read_text())
    assert source.count("from minitornado") >= 3, "the swap must really happen"
    (folder / f"{module}.py").write_text(source + COMMON_TAIL + tail)
    for name in ("test.crt", "test.key"):
        shutil.copy(TORNADO_TESTS / name, folder / name)
    done = subprocess.run(
        [sys.executable, "-c", RUNNER, *(f"{module}.{n}" for n in names)],
        cwd=folder, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    results: dict[str, str] = json.loads(done.stdout.splitlines()[-1])
    return results


def test_tornados_https_server_tests_pass_on_minitornado(tmp_path: Path) -> None:
    # Scenario: httpserver_test.py's TLS classes (SSLTest: a GET, a large POST, plain HTTP
    # on the TLS port, no stack trace logged for SSL errors; BadSSLOptionsTest;
    # SSLXHeaderTest) and iostream_test.py's WaitForHandshakeTest (a TCPServer with
    # ssl_options) and TestIOStreamWebHTTPS, all served by minitornado.
    results = run_swapped(
        "httpserver_test.py", "", ["SSLTest", "BadSSLOptionsTest", "SSLXHeaderTest"], tmp_path
    )
    results |= run_swapped(
        "iostream_test.py", IOSTREAM_TAIL, ["WaitForHandshakeTest", "TestIOStreamWebHTTPS"],
        tmp_path,
    )  # fmt: skip
    print("\n" + "\n".join(f"{verdict:5} {test}" for test, verdict in sorted(results.items())))
    assert len(results) == 17
    assert {verdict for verdict in results.values()} == {"ok"}


def test_tornados_stream_tests_fail_alike_over_tls_and_tcp(tmp_path: Path) -> None:
    # Scenario: iostream_test.py's 39 stream tests (TestIOStreamMixin), with minitornado's
    # stream on the server side and Tornado's on the client side, once over TLS
    # (SSLIOStream) and once over TCP (IOStream). TLS must add no failure: the tests that
    # fail, fail on both, for what IOStream leaves out (read_into, read_from_fd) or logs
    # under its own logger names.
    results = run_swapped("iostream_test.py", IOSTREAM_TAIL, ["MiniServerSSL", "MiniServerTCP"],
                          tmp_path)  # fmt: skip

    def failing(cls: str) -> set[str]:
        return {t.rsplit(".")[-1] for t, verdict in results.items() if cls in t and verdict != "ok"}

    passing_over_tls = [t for t, v in results.items() if "MiniServerSSL" in t and v == "ok"]
    print(f"\nover TLS: {len(passing_over_tls)} of 39 pass; failing on both: "
          f"{sorted(failing('MiniServerSSL'))}")  # fmt: skip
    assert failing("MiniServerSSL") == failing("MiniServerTCP")
    assert len(passing_over_tls) >= 27
