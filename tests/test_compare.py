"""``python -m minitornado.study.compare``: the demo app under both libraries, and its pieces.

The end-to-end tests run the tool as a subprocess, as a user would: it starts its own two
servers (minitornado and the real Tornado) on port 0. The others check, in process, how it
frames answers, what it counts as a difference, and when a difference counts as declared.
"""

from __future__ import annotations

import asyncio
import re
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from minitornado.study import compare
from minitornado.study._compare_requests import CASES, PROTOCOL, Case, custom, read_requests_file
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
    for name in compare.DECLARED:
        assert row(result.stdout, name)[-1] == "declared", name
        assert f"why ({name}): " in result.stdout
    assert result.stdout.count("why (") == declared == len(compare.DECLARED)


def test_request_option_adds_a_request_and_its_shape_makes_it_declared() -> None:
    # A request given on the command line is sent and judged like the built-in ones; one
    # with the shape of a declared difference (a header block over 64 KiB) is declared
    # under any name.
    big = "a" * 70000
    result = run_compare(
        "--request", r"mine=GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "--request", rf"big-header=GET / HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n",
        "--only", "mine", "--only", "big-header", "--only", "oversized-headers",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert row(result.stdout, "mine")[1:] == ["404", "closed", "404", "closed", "same"]
    assert row(result.stdout, "oversized-headers")[-1] == "declared"
    assert row(result.stdout, "big-header")[1:] == ["431", "closed", "-", "closed", "declared"]
    assert SUMMARY.search(result.stdout).groups() == ("3", "1", "2", "0")


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


def test_app_that_cannot_start_exits_2_with_its_error_said_once(tmp_path: Path) -> None:
    # The factory fails on both sides alike: no table; the app's traceback once, with the
    # app's own frame and none of the runner's or the import system's; exit status 2.
    (tmp_path / "broken.py").write_text("def make_app():\n    raise RuntimeError('no app')\n")
    result = run_compare("--app", "broken.py", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("compare: broken.py did not start under either minitornado")
    assert result.stderr.count("RuntimeError: no app") == 1
    assert 'broken.py", line 2, in make_app' in result.stderr
    for noise in ("b''", "Unknown child process", "_compare_runner", "<frozen"):
        assert noise not in result.stderr, result.stderr
    assert result.stdout == ""


def test_app_failing_on_one_side_only_names_that_side(tmp_path: Path) -> None:
    # tornado.gen exists in Tornado, not in minitornado: only our side fails, and says why.
    (tmp_path / "gen.py").write_text(
        "import tornado.gen\nimport tornado.web\n\n"
        "def make_app():\n    return tornado.web.Application()\n"
    )
    result = run_compare("--app", "gen.py", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("compare: gen.py did not start under minitornado:\n")
    assert "minitornado has no minitornado.gen" in result.stderr
    assert "under Tornado" not in result.stderr


def test_app_without_the_factory_says_how_to_name_it(tmp_path: Path) -> None:
    # No make_app(): one line saying so and how to name another factory.
    (tmp_path / "other.py").write_text("def build():\n    pass\n")
    result = run_compare("--app", "other.py", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines()[1:] == [
        "--app other.py: other.py has no function make_app() (name yours after a colon: "
        "other.py:build)"
    ]


def test_app_gets_the_protocol_requests_and_declared_differences_on_its_own_routes(
    tmp_path: Path,
) -> None:
    # Without requests of one's own, an app gets the built-in protocol requests only (not
    # those written for the demo's handlers), and the declared differences are recognised on its
    # answers: a chunk extension to a route it lacks is our 404 against Tornado's bare 400.
    (tmp_path / "myapp.py").write_text(textwrap.dedent(TORNADO_APP))
    result = run_compare("--app", "myapp:build", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    total, _, declared, unexpected = map(int, SUMMARY.search(result.stdout).groups())
    assert (total, declared, unexpected) == (len(PROTOCOL), len(compare.DECLARED), 0)
    assert row(result.stdout, "chunk-extension")[1:] == ["404", "closed", "400", "closed",
                                                         "declared"]  # fmt: skip
    assert "index" not in result.stdout.split()  # a demo route's request


REQUESTS_FILE = """\
# Requests for myapp.py
### hello  GET /
GET / HTTP/1.1
Host: x
Connection: close

### whoami
GET /whoami HTTP/1.1
Host: x
Connection: close


### post-chunked  a body in chunks, one with an extension
POST / HTTP/1.1
Host: x
Transfer-Encoding: chunked
Connection: close

3;ext=1
q=1
0
"""


def test_requests_file_gives_the_requests_sent_to_ones_app(tmp_path: Path) -> None:
    # The entries of a --requests file are sent, alone with --no-builtin, and judged: the
    # chunk extension is declared (by its shape), /whoami differs and fails the run.
    (tmp_path / "myapp.py").write_text(textwrap.dedent(TORNADO_APP))
    (tmp_path / "mine.http").write_text(REQUESTS_FILE)
    result = run_compare("--app", "myapp.py:build", "--requests", "mine.http", "--no-builtin",
                         cwd=tmp_path)  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert row(result.stdout, "hello")[1:] == ["200", "closed", "200", "closed", "same"]
    assert row(result.stdout, "whoami")[-1] == "UNEXPECTED"
    # Our server reads the chunks; the handler has no post(): 405 against Tornado's 400.
    assert row(result.stdout, "post-chunked")[1:] == ["405", "closed", "400", "closed",
                                                      "declared"]  # fmt: skip
    assert SUMMARY.search(result.stdout).groups() == ("3", "1", "1", "1")


def test_a_port_in_use_is_one_line_naming_it() -> None:
    # The two servers compare starts, given a --port someone already listens on: each
    # exits 1 with one line naming the port, not a traceback.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        runner = ["-m", "minitornado.study._compare_runner", "--app", "demo_app.py:make_app"]
        for command in (["demo_app.py", "--port", port], [*runner, "--port", port]):
            result = subprocess.run([sys.executable, *command], cwd=ROOT, capture_output=True,
                                    text=True, timeout=30)  # fmt: skip
            assert result.returncode == 1, command
            assert result.stderr.count("\n") == 1 and f"port {port}" in result.stderr, (
                command, result.stderr)  # fmt: skip
            assert "already in use" in result.stderr and result.stdout == ""


class ExitedProcess:
    """A server process as ``stop`` sees it: running, or with its stdout closed (exiting)."""

    def __init__(self, stdout_closed: bool) -> None:
        self.returncode: int | None = None
        self.stdout = asyncio.StreamReader()
        if stdout_closed:
            self.stdout.feed_eof()
        self.signals: list[str] = []

    def terminate(self) -> None:
        self.signals.append("SIGTERM")

    def kill(self) -> None:
        self.signals.append("SIGKILL")

    async def wait(self) -> int:
        self.returncode = 0
        return 0


async def test_a_server_whose_stdout_closed_is_awaited_not_signalled() -> None:
    # Signalling a process that exited on its own may reap it behind asyncio's back (which
    # then logs "Unknown child process"): one with its stdout closed is only awaited.
    exited, running = ExitedProcess(stdout_closed=True), ExitedProcess(stdout_closed=False)
    await compare.stop(exited)  # type: ignore[arg-type]
    await compare.stop(running)  # type: ignore[arg-type]
    assert (exited.signals, running.signals) == ([], ["SIGTERM"])
    assert exited.returncode == running.returncode == 0


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
    # --list starts nothing: one line per request, declared differences marked, then each
    # declared difference with the shape it is recognised by.
    result = run_compare("--list")
    assert result.returncode == 0
    requests, declared = result.stdout.split("\n\nDeclared differences")
    lines = requests.splitlines()
    assert [line.split()[0] for line in lines] == [case.name for case in CASES]
    marked = {line.split()[0] for line in lines if "[declared difference]" in line}
    assert marked == set(compare.DECLARED)
    names = [line.split()[0] for line in declared.splitlines() if line.startswith("  ") and
             not line.startswith("    ")]  # fmt: skip
    assert names == list(compare.DECLARED)
    assert declared.count("\n    on: ") == declared.count("\n    why: ") == len(names)


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


def _exchange(code: str, ending: str, reason: str = "X") -> Exchange:
    responses = [Response(f"HTTP/1.1 {code} {reason}", [], b"")] if code != "-" else []
    return Exchange(responses, b"", ending)


BARE_400 = _exchange("400", "closed", "Bad Request")


def _verdict(raw: bytes, ours: Exchange, theirs: Exchange) -> str:
    return compare.judge(Case("any-name", raw, custom=True), ours, theirs).verdict


def test_a_difference_is_declared_by_the_requests_shape_and_both_answers() -> None:
    # oversized-headers is declared as "431 closed" against "- closed" on a header block
    # over 64 KiB, whatever the request's name: exactly that is declared; another answer,
    # or the same answers to a small request, is unexpected.
    big = next(case for case in CASES if case.name == "oversized-headers").raw
    assert _verdict(big, _exchange("431", "closed"), _exchange("-", "closed")) == "declared"
    assert _verdict(big, _exchange("400", "closed"), _exchange("-", "closed")) == "UNEXPECTED"
    assert _verdict(big, _exchange("200", "open"), _exchange("200", "open")) == "same"
    small = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    assert _verdict(small, _exchange("431", "closed"), _exchange("-", "closed")) == "UNEXPECTED"


def test_the_apps_answer_means_any_answer_but_the_bare_400() -> None:
    # A chunk extension: whatever the app answers on our side (200, 404, a 400 of its own
    # with a reason) against Tornado's bare 400 is declared; our bare 400 is not.
    raw = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1;a=b\r\nq\r\n0\r\n\r\n"
    for ours in (_exchange("200", "closed"), _exchange("404", "open"), _exchange("400", "closed")):
        assert _verdict(raw, ours, BARE_400) == "declared", ours
    assert _verdict(raw, BARE_400, _exchange("200", "closed")) == "UNEXPECTED"
    assert _verdict(raw, _exchange("200", "closed"), _exchange("-", "closed")) == "UNEXPECTED"


def test_every_declaration_has_the_shape_of_its_request_only_and_a_module_documenting_it() -> None:
    # Each declared difference is named after the one built-in request of its shape, and
    # its module says "Differs on purpose".
    for name, difference in compare.DECLARED.items():
        assert [case.name for case in CASES if difference.shape(case.raw)] == [name]
        assert "Differs on purpose" in (ROOT / difference.where).read_text()


def _requests_file_example(text: str) -> str:
    """The indented example of a requests file in ``text``, from its comment to the prose."""
    lines = text.splitlines()
    # (Indented: the README's own "### " headings are not the example.)
    start = next(i for i, line in enumerate(lines) if line.startswith("    ### ")) - 1
    end = next(i for i in range(start, len(lines)) if lines[i] and not lines[i].startswith(" "))
    return textwrap.dedent("\n".join(lines[start:end]))


@pytest.mark.parametrize("where", ["README.md", "compare.py"])
def test_the_documented_requests_file_example_reads_as_documented(where: str) -> None:
    # The example in the README and in the module's docstring: two requests, the POST's
    # Content-Length added to its head.
    text = (ROOT / "README.md").read_text() if where == "README.md" else compare.__doc__
    home, add_item = read_requests_file(_requests_file_example(text or ""), where)
    assert (home.name, home.about, add_item.name) == ("home", "the index page", "add-item")
    assert home.raw == b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    assert add_item.raw.endswith(b"Connection: close\r\nContent-Length: 15\r\n\r\nname=box&size=2")


def test_a_requests_file_is_readable_http_made_wire_exact() -> None:
    # LF becomes CRLF in the head, which ends with an empty line; a body gets its
    # Content-Length, a chunked one CRLF line ends and its closing empty line; the words
    # after a name describe the request; comments come only before the first entry.
    form = "### form\nPOST /f HTTP/1.1\nHost: x\n\na=1\nb=2\n\n"
    cases = read_requests_file(REQUESTS_FILE + form, "mine.http")
    assert [case.name for case in cases] == ["hello", "whoami", "post-chunked", "form"]
    assert [case.about for case in cases][::2] == [
        "GET /",
        "a body in chunks, one with an extension",
    ]
    assert cases[1].about == "from mine.http"
    assert cases[1].raw == b"GET /whoami HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    assert cases[2].raw.endswith(b"Connection: close\r\n\r\n3;ext=1\r\nq=1\r\n0\r\n\r\n")
    assert cases[3].raw == b"POST /f HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\n\r\na=1\nb=2"
    assert all(case.custom and not case.head for case in cases)
    for bad, error in [("GET / HTTP/1.1\n", "must follow a '### NAME'"), ("###\nGET /\n", "name"),
                       ("### a\nGET /\n### a\nGET /\n", "second request named a"),
                       ("### a\n\n", "empty"), ("# nothing\n", "no '### NAME'")]:  # fmt: skip
        with pytest.raises(ValueError, match=error):
            read_requests_file(bad, "bad.http")


def test_a_request_given_on_the_command_line_takes_backslash_escapes() -> None:
    # \r\n, \t and \xNN become the bytes; a HEAD request is framed without bodies.
    case = custom(r"x=HEAD / HTTP/1.1\r\nHost: a\tb\x01\r\n\r\n")
    assert case.raw == b"HEAD / HTTP/1.1\r\nHost: a\tb\x01\r\n\r\n"
    assert (case.name, case.head, case.custom) == ("x", True, True)
    with pytest.raises(ValueError):
        custom("no equals sign")
