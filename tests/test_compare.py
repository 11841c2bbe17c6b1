"""``python -m minitornado.study.compare``: the demo app under both libraries, and its pieces.

The end-to-end tests run the tool as a subprocess, as a user would: it starts its own two
servers (minitornado and the real Tornado) on port 0. The others check, in process, how it
frames answers, what it counts as a difference, and when a difference counts as declared.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from minitornado.study import compare
from minitornado.study._compare_requests import CASES, Case, custom
from minitornado.study._compare_wire import Exchange, Response, differences, parse_responses

ROOT = Path(__file__).resolve().parent.parent
RUN_TIMEOUT = 90  # seconds for one whole run of the tool (two servers, every request)
SUMMARY = re.compile(
    r"^(\d+) requests: (\d+) same, (\d+) declared differences, (\d+) unexpected$", re.M
)


def run_compare(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "minitornado.study.compare", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )


def row(output: str, name: str) -> list[str]:
    """The table row of request ``name``, split into its cells."""
    for line in output.splitlines():
        if line.split()[:1] == [name]:
            return line.split()
    raise AssertionError(f"no row for {name} in:\n{output}")


# ---- End to end: the demo app ---------------------------------------------------------------


def test_demo_app_differs_from_tornado_only_where_declared() -> None:
    # Every built-in request goes to demo_app.py under both libraries: the tool exits 0,
    # and each declared difference shows up as one, with its reason.
    result = run_compare()
    assert result.returncode == 0, result.stdout + result.stderr
    total, same, declared, unexpected = map(int, SUMMARY.search(result.stdout).groups())
    assert (total, unexpected) == (len(CASES), 0)
    assert same + declared == total and total >= 30
    for name, difference in compare.DECLARED.items():
        cells = row(result.stdout, name)
        assert cells[-1] == "declared", cells
        assert " ".join(cells[1:-1]) == f"{difference.ours} {difference.tornado}"
    assert result.stdout.count("why: ") == declared == len(compare.DECLARED)


def test_request_option_adds_a_request_of_ones_own() -> None:
    # A request given on the command line is sent and judged like the built-in ones; one
    # that hits a declared difference under another name is not declared.
    big = "a" * 70000
    result = run_compare(
        "--request", r"mine=GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "--request", rf"big-header=GET / HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n",
        "--only", "mine", "--only", "big-header", "--only", "oversized-headers",
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert row(result.stdout, "mine")[1:] == ["404", "closed", "404", "closed", "same"]
    assert row(result.stdout, "oversized-headers")[-1] == "declared"
    assert row(result.stdout, "big-header")[1:] == ["431", "closed", "-", "closed", "UNEXPECTED"]
    assert SUMMARY.search(result.stdout).groups() == ("3", "1", "1", "1")


def test_both_servers_are_stopped_when_the_comparison_ends() -> None:
    # The table's first line names both ports; once the tool has exited, nobody listens.
    result = run_compare("--only", "index")
    assert result.returncode == 0, result.stdout + result.stderr
    ports = [int(port) for port in re.findall(r"\(port (\d+)\)", result.stdout)]
    assert len(ports) == 2
    for port in ports:
        with pytest.raises(ConnectionRefusedError), socket.socket() as client:
            client.settimeout(5)
            client.connect(("127.0.0.1", port))


# ---- End to end: an app of one's own -----------------------------------------------------------

TORNADO_APP = """
    import tornado.web

    class Hello(tornado.web.RequestHandler):
        def get(self):
            self.write("Hello from an app written for Tornado")

    class WhoAmI(tornado.web.RequestHandler):
        def get(self):
            self.write(tornado.web.__name__)  # which library serves: differs, undeclared

    def build():
        return tornado.web.Application([("/", Hello), ("/whoami", WhoAmI)])
"""


def test_app_module_runs_on_both_and_an_undeclared_difference_fails(tmp_path: Path) -> None:
    # A module written against tornado.web is served by both libraries; its /whoami answers
    # which module it got, so that request differs and nothing declares it: exit status 1.
    (tmp_path / "myapp.py").write_text(textwrap.dedent(TORNADO_APP))
    result = run_compare(
        "--app", "myapp:build", "--only", "hello", "--only", "whoami",
        "--request", r"hello=GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "--request", r"whoami=GET /whoami HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert row(result.stdout, "hello")[-1] == "same"
    assert row(result.stdout, "whoami")[-1] == "UNEXPECTED"
    assert "body: 15 bytes b'minitornado.web' | 11 bytes b'tornado.web'" in result.stdout
    assert SUMMARY.search(result.stdout).groups() == ("2", "1", "0", "1")


def test_app_that_cannot_start_exits_2_with_its_error(tmp_path: Path) -> None:
    # The factory fails: no table, the server's own traceback instead, exit status 2.
    (tmp_path / "broken.py").write_text("def make_app():\n    raise RuntimeError('no app')\n")
    result = run_compare("--app", str(tmp_path / "broken.py"), "--only", "index")
    assert result.returncode == 2
    assert "did not start" in result.stderr and "RuntimeError: no app" in result.stderr
    assert "requests:" not in result.stdout


def test_tornado_imports_resolve_to_the_minitornado_modules_themselves() -> None:
    # In a fresh process with the alias installed, tornado.web IS minitornado.web (not a
    # copy, so isinstance checks hold) and a module minitornado lacks is an ImportError.
    script = textwrap.dedent("""
        from minitornado.study._compare_runner import install_tornado_alias
        install_tornado_alias()
        import tornado.web, tornado.httputil, minitornado.web, minitornado.httputil
        from tornado import ioloop
        assert tornado.web is minitornado.web and ioloop.__name__ == "minitornado.ioloop"
        assert tornado.httputil.__spec__.name == "minitornado.httputil"
        try:
            import tornado.gen
        except ModuleNotFoundError as error:
            print(error)
    """)
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert "minitornado has no minitornado.gen" in result.stdout


def test_list_names_every_request_and_marks_the_declared_ones() -> None:
    # --list starts nothing: one line per request, declared differences marked.
    result = run_compare("--list")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == [case.name for case in CASES]
    marked = {line.split()[0] for line in lines if "[declared difference]" in line}
    assert marked == set(compare.DECLARED)


def test_only_with_an_unknown_name_exits_2() -> None:
    # A typo in --only is an error, not an empty (and so passing) comparison.
    result = run_compare("--only", "no-such-request")
    assert result.returncode == 2 and "no-such-request" in result.stderr


# ---- In process: framing, differences, verdicts --------------------------------------------------

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"
CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\nX-T: 1\r\n\r\n"


def test_responses_are_framed_as_a_client_frames_them() -> None:
    # Content-Length, chunked (with a trailer), an interim 100, HEAD and a body that runs
    # to the close, one after the other in the same bytes.
    data = b"HTTP/1.1 100 (Continue)\r\n\r\n" + OK + CHUNKED + b"HTTP/1.0 200 OK\r\n\r\nto the end"
    responses, rest = parse_responses(data, head=False, closed=True)
    assert [r.code for r in responses] == ["100", "200", "200", "200"]
    chunked_body = b"1\r\na\r\n0\r\nX-T: 1\r\n\r\n"
    assert [r.body for r in responses] == [b"", b"hi", chunked_body, b"to the end"]
    assert rest == b"" and all(r.complete for r in responses)
    # Still open: the last body may go on, so it is not a response yet.
    assert len(parse_responses(data, head=False, closed=False)[0]) == 3
    head, _ = parse_responses(OK.replace(b"hi", b""), head=True, closed=False)
    assert head[0].body == b""


def test_a_response_cut_short_by_the_close_is_marked_so() -> None:
    # A chunked body without its last chunk, then the close: one incomplete response.
    responses, rest = parse_responses(CHUNKED[:-12], head=False, closed=True)
    assert (len(responses), responses[0].complete, rest) == (1, False, b"")
    assert Exchange(responses, ending="closed").outcome() == "200(cut) closed"
    # Bytes that are no response at all stay visible as unparsed.
    assert parse_responses(b"garbage", head=False, closed=True) == ([], b"garbage")


def test_date_and_server_values_never_count_but_their_presence_does() -> None:
    # Different Date and Server values are no difference; a missing Date is one.
    ours = Response("HTTP/1.1 200 OK", [("Server", "minitornado/0.1.0"), ("Date", "a")], b"")
    theirs = Response("HTTP/1.1 200 OK", [("Server", "TornadoServer/6.6.1"), ("Date", "b")], b"")
    assert differences(Exchange([ours]), Exchange([theirs])) == []
    bare = Response("HTTP/1.1 200 OK", [("Server", "x")], b"")
    assert differences(Exchange([bare]), Exchange([theirs])) == [
        "header Date: only Tornado's ('<date>')"
    ]


def test_the_same_headers_in_another_order_are_reported_as_an_order_difference() -> None:
    # Tornado's header order is observable, so it is compared, and said apart from values.
    ours = Response("HTTP/1.1 200 OK", [("A", "1"), ("B", "2")], b"x")
    theirs = Response("HTTP/1.1 200 OK", [("B", "2"), ("A", "1")], b"x")
    assert differences(Exchange([ours]), Exchange([theirs], ending="closed")) == [
        "header order: A, B | B, A",
        "connection: open | closed",
    ]


def _exchange(code: str, ending: str) -> Exchange:
    return Exchange([Response(f"HTTP/1.1 {code} X", [], b"")] if code != "-" else [], b"", ending)


def test_a_difference_is_declared_only_with_the_declared_outcomes() -> None:
    # oversized-headers is declared as "431 closed" against "- closed": exactly that is
    # declared; any other difference on the same request, or the same one on a request
    # given on the command line, is unexpected.
    case = next(case for case in CASES if case.name == "oversized-headers")
    assert compare.judge(case, _exchange("431", "closed"), _exchange("-", "closed")).verdict == (
        "declared"
    )
    assert compare.judge(case, _exchange("400", "closed"), _exchange("-", "closed")).verdict == (
        "UNEXPECTED"
    )
    assert compare.judge(case, _exchange("200", "open"), _exchange("200", "open")).verdict == "same"
    mine = Case("oversized-headers", case.raw, custom=True)
    assert compare.judge(mine, _exchange("431", "closed"), _exchange("-", "closed")).verdict == (
        "UNEXPECTED"
    )


def test_every_declaration_names_a_request_and_a_module_that_documents_it() -> None:
    # A declared difference must be sent, and its module must say "Differs on purpose".
    names = {case.name for case in CASES}
    for name, difference in compare.DECLARED.items():
        assert name in names
        assert "Differs on purpose" in (ROOT / difference.where).read_text()


def test_a_request_given_on_the_command_line_takes_backslash_escapes() -> None:
    # \r\n, \t and \xNN become the bytes; a HEAD request is framed without bodies.
    case = custom(r"x=HEAD / HTTP/1.1\r\nHost: a\tb\x01\r\n\r\n")
    assert case.raw == b"HEAD / HTTP/1.1\r\nHost: a\tb\x01\r\n\r\n"
    assert (case.name, case.head, case.custom) == ("x", True, True)
    with pytest.raises(ValueError):
        custom("no equals sign")
