"""The examples in docstrings and the commands in the README run, so neither can rot.

- Every ``>>>`` example in a minitornado docstring passes (doctest).
- Every Python example printed in a docstring (a ``::`` block that parses as Python) says
  which test runs it; the package docstring's own example is run here, on minitornado and,
  as it promises, on Tornado with only the import changed.
- Every command line in README.md is checked: test commands must select tests, the tour and
  demo commands must run, and the install-and-test and lint commands must be what
  ``.ci/run`` runs, verbatim.
- The README's "What runs unchanged" table names every module of minitornado and of the
  installed Tornado; its links exist, what it calls left out is absent from minitornado,
  every setting ``Application`` refuses is in it, and its TLS row says what ``HTTPServer``
  does with ``ssl_options``.
"""

from __future__ import annotations

import ast
import asyncio
import doctest
import http.client
import importlib
import importlib.util
import os
import re
import select
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import minitornado

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
TIMEOUT = 10.0
MODULE_NAMES = sorted(
    ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
    for p in [*ROOT.glob("minitornado/*.py"), *ROOT.glob("minitornado/study/*.py")]
)


# ---- Docstring examples -------------------------------------------------------------------------


@pytest.mark.parametrize("name", MODULE_NAMES)
def test_doctest_examples_pass(name: str) -> None:
    # Scenario: every ">>>" example in the module's docstrings gives the output it shows.
    module = importlib.import_module(name)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in doctest.DocTestFinder(exclude_empty=True).find(module, name):
        runner.run(test)
    assert runner.summarize(verbose=False).failed == 0


def test_there_are_doctest_examples_to_run() -> None:
    # Scenario: a floor, so the doctest run above cannot pass by finding nothing.
    count = 0
    for name in MODULE_NAMES:
        for test in doctest.DocTestFinder(exclude_empty=True).find(importlib.import_module(name)):
            count += len(test.examples)
    assert count >= 2


def python_literal_blocks(source: str) -> Iterator[tuple[str, str]]:
    """(introducing paragraph, code) for each ``::`` block of a docstring that is Python."""
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        doc = ast.get_docstring(node, clean=True)
        if not doc:
            continue
        for found in re.finditer(r"([^\n]*(?:\n[^\n]+)*)::\n\n((?:(?: {4}.*)?\n)+)", doc + "\n"):
            code = textwrap.dedent(found[2])
            try:
                tree = ast.parse(code)
            except SyntaxError:
                continue  # a listing, a log line, a command: not Python
            if any(not isinstance(stmt, ast.Expr) for stmt in tree.body):
                yield found[1], code


def test_every_python_example_in_a_docstring_names_the_test_that_runs_it() -> None:
    # Scenario: an example printed in a docstring says "(tests/test_x.py runs this very
    # text)", and that test file exists and reads the docstring it runs.
    examples = 0
    for module in sorted((ROOT / "minitornado").glob("*.py")):
        for intro, _ in python_literal_blocks(module.read_text()):
            examples += 1
            named = re.search(r"(tests/test_\w+\.py)`*\s+runs this very text", intro)
            assert named, f"{module.name}: say which test runs the example after: {intro!r}"
            test_file = ROOT / named[1]
            assert test_file.is_file(), named[1]
            assert "runs this very text" in test_file.read_text(), named[1]
    assert examples >= 3


def _package_example(impl: str) -> tuple[str, ast.Module]:
    """The package docstring's application, for ``impl``, without its last line."""
    doc = minitornado.__doc__ or ""
    text = doc.split("(tests/test_docs.py runs this very text)::\n\n", 1)[1]
    code = textwrap.dedent(text.split("\n\nSwitch the import", 1)[0])
    if impl == "tornado":
        assert "from minitornado import web" in code
        code = code.replace("from minitornado import web", "from tornado import web")
    tree = ast.parse(code)
    # The last line runs the server for ever; the test runs main() itself instead.
    assert ast.unparse(tree.body[-1]) == "asyncio.run(main())"
    tree.body.pop()
    return code, tree


@pytest.mark.parametrize("impl", ["minitornado", "tornado"])
async def test_package_docstring_application_says_hello(
    impl: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Scenario: the application in minitornado/__init__.py, run on each implementation with
    # listen(8888) sent to a free port, answers GET / with "Hello, world".
    _, tree = _package_example(impl)
    namespace: dict[str, Any] = {"__name__": "package_example"}
    exec(compile(tree, "<package docstring>", "exec"), namespace)
    web = importlib.import_module(f"{impl}.web")
    servers: list[Any] = []
    real_listen = web.Application.listen

    def listen_on_a_free_port(self: Any, port: int, *args: Any, **kwargs: Any) -> Any:
        assert port == 8888
        server = real_listen(self, 0, "127.0.0.1")
        servers.append(server)
        return server

    monkeypatch.setattr(web.Application, "listen", listen_on_a_free_port)
    main = asyncio.ensure_future(namespace["main"]())
    try:
        for _ in range(100):
            if servers:
                break
            await asyncio.sleep(0.01)
        port = next(iter(servers[0]._sockets.values())).getsockname()[1]
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 5)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = await asyncio.wait_for(reader.read(), 5)
        writer.close()
        assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
        assert answer.endswith(b"\r\n\r\nHello, world")
    finally:
        main.cancel()
        await asyncio.gather(main, return_exceptions=True)
        for server in servers:
            server.stop()


# ---- README commands --------------------------------------------------------------------------


def readme_commands() -> list[str]:
    """Every command line of README.md: indented code lines, comments stripped."""
    commands = []
    for line in README.read_text().splitlines():
        if line.startswith("    ") and re.match(r"\s+(\.venv/bin/|python3? )", line):
            commands.append(re.sub(r"\s+#.*$", "", line.strip()))
    return commands


def test_readme_has_the_commands_this_file_checks() -> None:
    # Scenario: the README's commands are all of a kind checked below, so a new kind of
    # command cannot slip in unchecked.
    commands = readme_commands()
    assert len(commands) >= 8
    for command in commands:
        assert _kind(command) != "unknown", f"teach tests/test_docs.py to check: {command}"


def _kind(command: str) -> str:
    last = command.split(" && ")[-1]
    if command.startswith("python3 -m venv"):
        return "install"
    if last.startswith(".venv/bin/python -m pytest"):
        return "pytest"
    if last.startswith(".venv/bin/python -m minitornado."):
        return "module"
    if last.startswith('.venv/bin/python -c "import trustme;'):
        return "certificate"
    if re.match(r"\.venv/bin/python (-W \S+ )?demo_app\.py", last):
        return "demo"
    if last.startswith((".venv/bin/ruff ", ".venv/bin/mypy ")):
        return "check"
    if last.startswith(".venv/bin/python -m bench.spread"):
        return "spread"
    if last.startswith(".venv/bin/python -m bench"):
        return "bench"
    return "unknown"


def test_install_and_check_commands_are_what_ci_runs() -> None:
    # Scenario: .ci/run runs the README's install-and-test command, ruff and mypy verbatim;
    # the install-and-demo command installs the same way and ends in a demo command.
    ci = (ROOT / ".ci" / "run").read_text()
    commands = readme_commands()
    installs = [c for c in commands if _kind(c) == "install"]
    assert len(installs) == 2
    demo_install, test_install = installs
    assert test_install in ci.splitlines()
    assert demo_install.endswith(".venv/bin/python demo_app.py")
    for command in commands:
        if _kind(command) == "check":
            assert command in ci.splitlines(), command


def test_readme_bench_commands_parse() -> None:
    # Scenario: each "python -m bench ..." line of the README has options the benchmark
    # accepts (argparse exits on any other). tests/test_bench.py runs the benchmark itself.
    from bench.run import parse_args

    lines = [c for c in readme_commands() if _kind(c) == "bench"]
    assert len(lines) >= 2
    for line in lines:
        parse_args(shlex.split(line)[3:])


def test_readme_spread_commands_parse() -> None:
    # Scenario: each "python -m bench.spread ..." line of the README has options the command
    # accepts (argparse exits on any other). tests/test_spread.py runs the command itself.
    from bench.spread import parse_args

    lines = [c for c in readme_commands() if _kind(c) == "spread"]
    assert lines
    for line in lines:
        parse_args(shlex.split(line)[3:])


def test_readme_test_commands_select_tests() -> None:
    # Scenario: each "pytest ... -k ..." line of the README selects at least one test (a
    # renamed test would otherwise leave the README pointing at nothing).
    lines = [c for c in readme_commands() if _kind(c) == "pytest" and "&&" not in c]
    assert len(lines) >= 3
    collect = ["--collect-only", "-q", "-p", "no:cacheprovider"]
    processes = [
        subprocess.Popen(
            [sys.executable, *shlex.split(line)[1:], *collect],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for line in lines
    ]
    for line, process in zip(lines, processes, strict=True):
        out, _ = process.communicate(timeout=60)
        selected = re.search(r"^(\d+)(?:/\d+)? tests? collected", out, re.M)
        assert process.returncode == 0 and selected and int(selected[1]) > 0, (line, out[-800:])


def test_readme_module_commands_run(tmp_path: Path) -> None:
    # Scenario: each "python -m minitornado.X" line names a module that exists; the tour
    # lines run and print (a --html one writes its page, here into a temporary directory).
    for line in (c for c in readme_commands() if _kind(c) == "module"):
        args = shlex.split(line)[1:]
        module = args[1]
        assert importlib.util.find_spec(module) is not None, line
        if module != "minitornado.study.tour":
            continue  # the compare tool has its own tests (tests/test_compare.py)
        args = [str(tmp_path / a) if a.endswith(".html") else a for a in args]
        result = subprocess.run(
            [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0 and result.stdout.strip(), (line, result.stderr)


def test_readme_demo_commands_serve_and_stop_cleanly() -> None:
    # Scenario: each demo line of the README starts the demo (on a free port, whatever the
    # line says), prints its "Listening on" line, answers GET /, and exits 0 on SIGTERM;
    # no warning reaches stderr (one README line runs it with -W error).
    lines = [c.split(" && ")[-1] for c in readme_commands() if _kind(c) in ("demo", "install")]
    # (--certfile needs the certificate the README makes first: the next test runs those.)
    lines = [line for line in lines if "demo_app.py" in line and "--certfile" not in line]
    assert len(lines) >= 3
    for line in lines:
        args = [*shlex.split(line)[1:], "--port", "0"]
        process = subprocess.Popen(
            [sys.executable, *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
        try:
            ready, _, _ = select.select([process.stdout], [], [], TIMEOUT)
            assert ready, f"{line}: nothing printed within {TIMEOUT}s"
            assert process.stdout is not None
            first = process.stdout.readline()
            assert first.startswith("Listening on http://127.0.0.1:"), (line, first)
            # A served request also means the loop runs, so the signal handlers are in place.
            port = int(first.split(":")[2].split("/")[0])
            with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as client:
                client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                assert client.makefile("rb").readline().startswith(b"HTTP/1.1 200 "), line
            process.send_signal(signal.SIGTERM)
            _, err = process.communicate(timeout=TIMEOUT)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
        assert process.returncode == 0, (line, err)
        assert "Warning" not in err, (line, err)


def test_readme_https_commands_make_a_certificate_serve_and_answer_curl(tmp_path: Path) -> None:
    # Scenario: in an empty directory, the README's trustme line makes cert.pem, key.pem and
    # ca.pem; its --certfile demo line serves HTTPS there (first line https://, on a free
    # port); its curl line, pointed at that port, gets the route list (when curl exists;
    # else http.client with the same CA does); SIGTERM exits 0.
    commands = readme_commands()
    (make,) = [c for c in commands if _kind(c) == "certificate"]
    (serve,) = [c for c in commands if _kind(c) == "demo" and "--certfile" in c]
    (curl,) = re.findall(r"^    (curl --cacert .*)$", README.read_text(), re.M)
    made = subprocess.run(
        [sys.executable, *shlex.split(make)[1:]], cwd=tmp_path, capture_output=True, timeout=60
    )
    assert made.returncode == 0, made.stderr
    assert {"cert.pem", "key.pem", "ca.pem"} <= {p.name for p in tmp_path.iterdir()}
    args = [str(ROOT / "demo_app.py") if a == "demo_app.py" else a for a in shlex.split(serve)]
    process = subprocess.Popen(
        [sys.executable, *args[1:], "--port", "0"], cwd=tmp_path, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        ready, _, _ = select.select([process.stdout], [], [], TIMEOUT)
        assert ready and process.stdout is not None, f"{serve}: nothing printed"
        first = process.stdout.readline()
        assert first.startswith("Listening on https://127.0.0.1:"), first
        port = int(first.split(":")[2].split("/")[0])
        if shutil.which("curl"):
            command = shlex.split(curl.replace(":8000/", f":{port}/"))
            got = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True,
                                 timeout=TIMEOUT)  # fmt: skip
            assert got.returncode == 0, got.stderr
            body = got.stdout
        else:
            context = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
            conn = http.client.HTTPSConnection("localhost", port, context=context, timeout=5)
            conn.request("GET", "/")
            body = conn.getresponse().read().decode()
            conn.close()
        assert "/hello" in body, body
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert "step T5" in err


# ---- The "What runs unchanged" table ------------------------------------------------------------

STATUSES = ("runs unchanged", "differs", "in progress", "left out")


def support_table() -> list[list[str]]:
    """The rows of README.md's "What runs unchanged" table: [Tornado, minitornado, notes]."""
    section = README.read_text().split("\n## What runs unchanged\n", 1)[1].split("\n## ", 1)[0]
    rows = [
        [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        for line in section.splitlines()
        if line.startswith("| ") and not line.startswith("| Tornado 6.6 |")
    ]
    assert rows and all(len(row) == 3 for row in rows), rows
    return rows


def _status(row: list[str]) -> str:
    status = next((s for s in STATUSES if row[1].startswith(s)), None)
    assert status, f"a row's status must start with one of {STATUSES}: {row[1]!r}"
    return status


def test_support_table_names_every_module_of_both_packages() -> None:
    # Scenario: every public module of minitornado/ is linked from a row that does not say
    # "left out", and every public module of the installed Tornado is named in the first
    # column, so a module added to either package cannot be missing from the table.
    rows = support_table()
    linked = " ".join(row[1] for row in rows if _status(row) != "left out")
    for path in sorted((ROOT / "minitornado").glob("*.py")):
        if not path.name.startswith("_"):
            assert f"(minitornado/{path.name})" in linked, path.name
    named = set(re.findall(r"`(tornado(?:\.\w+)+)`", " ".join(row[0] for row in rows)))
    import tornado

    tornado_root = Path(tornado.__file__).parent
    for path in [*tornado_root.glob("*.py"), *tornado_root.glob("platform/*.py")]:
        if not path.name.startswith("_"):
            module = ".".join(path.relative_to(tornado_root.parent).with_suffix("").parts)
            assert module in named, f"{module} is not in README's 'What runs unchanged' table"


def test_support_table_links_exist_and_left_out_names_are_absent() -> None:
    # Scenario: each link points at a file of the repository; what a "left out" row names in
    # its first column does not exist in minitornado: no module for `tornado.X`, no
    # attribute of minitornado.web or RequestHandler for a plain name.
    import minitornado.web

    for row in support_table():
        for link in re.findall(r"\]\(([^)]+)\)", " ".join(row)):
            assert (ROOT / link).exists(), link
        if _status(row) != "left out":
            continue
        for name in re.findall(r"`([\w.]+)`", row[0]):
            if name.startswith("tornado."):
                ours = "mini" + name
                assert not (ROOT / (ours.replace(".", "/") + ".py")).exists(), ours
            else:
                owner: Any = minitornado.web
                *path, last = name.split(".")
                for part in path:
                    owner = getattr(owner, part)
                assert not hasattr(owner, last), f"{name} is in a 'left out' row but exists"
                assert not hasattr(minitornado.web.RequestHandler, last), name


def test_every_refused_setting_is_in_a_left_out_row_and_its_error_points_here() -> None:
    # Scenario: each setting Application() refuses is named, in backquotes, in the first
    # column of a "left out" row; the refusal's message sends the reader to this section.
    import minitornado.web

    left_out = " ".join(row[0] for row in support_table() if _status(row) == "left out")
    for name in [*minitornado.web._UNSUPPORTED_SETTINGS, "transforms"]:
        assert f"`{name}`" in left_out, name
    with pytest.raises(NotImplementedError, match=r"README\.md, 'What runs unchanged'"):
        minitornado.web.Application([], static_path="/tmp")


def test_the_tls_row_says_what_httpserver_does() -> None:
    # Scenario: TLS is the row most likely to change. If it says "left out", HTTPServer
    # refuses ssl_options; if it says anything else, HTTPServer takes an SSLContext.
    import ssl

    from minitornado.httpserver import HTTPServer

    (row,) = [row for row in support_table() if row[0].startswith("TLS")]
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    if _status(row) == "left out":
        with pytest.raises(NotImplementedError):
            HTTPServer(lambda request: None, ssl_options=context)
    else:
        HTTPServer(lambda request: None, ssl_options=context)
