"""The annotations every module carries, kept true: markers, map docstrings, ours-alone names.

minitornado is read next to Tornado, so its cross-references must not rot:

- every ``# Tornado: path::qualname`` comment names a real definition in the installed
  Tornado 6.6.1, found by parsing Tornado's source with ``ast`` (nothing is imported);
- every public name of every module carries such a marker, or is listed in ``OURS_ALONE``
  below with the reason Tornado has no counterpart;
- every module opens with its map docstring: what it does, ``Mirrors:`` (or why it is ours
  alone), ``Kept:``, ``Left out:``, and its steps on the study path, which must exist.

Text after the qualname is free (``(study path, step 4)``, ``(private here)``, ``(same
value)``). One marker above a run of one-line assignments, with no blank line between them,
covers the run; each name in it must then exist in Tornado beside the marked one.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from dataclasses import dataclass
from pathlib import Path

import pytest

from minitornado.study._tour_source import definitions, tornado_root
from minitornado.study.tour import STUDY_PATH, Step

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "minitornado"
MODULES = sorted([*PACKAGE.glob("*.py"), *PACKAGE.glob("study/*.py")])


def rel(module: Path) -> str:
    """A module's path inside the package: ``web.py``, ``study/tour.py``."""
    return module.relative_to(PACKAGE).as_posix()

MARKER = re.compile(r"#\s*Tornado:\s*(?P<path>tornado/[\w/]+\.py)::(?P<qualname>[\w.<>]+)")

# Whole modules with no Tornado counterpart: their public names need no marker.
OURS_ALONE_MODULES: dict[str, str] = {
    "study/tour.py": "the study-path tour; Tornado has none",
    "study/_tour_source.py": "reads our source and Tornado's for the tour and for these tests",
    "study/_tour_html.py": "lays the tour out as one HTML page",
    "study/_tour_text.py": "lays the tour out as terminal text",
    "study/trace.py": "the study-path trace log; Tornado has none",
    "study/_trace_lines.py": "what each step of the trace prints",
    "study/_refs.py": "turns study-path references into code objects, for the trace and tests",
    "study/compare.py": "the side-by-side comparison tool, run against Tornado",
    "study/_compare_requests.py": "the requests compare.py sends",
    "study/_compare_runner.py": "serves an app under either implementation, for compare.py",
    "study/_compare_wire.py": "compare.py's raw-socket client",
    "study/__init__.py": "the study tools' package; Tornado has none",
}

# Public names that mirror nothing in Tornado, each with the reason.
OURS_ALONE: dict[str, str] = {
    "_h11_checks.py::RequestHeaderFieldsTooLarge": "our 431 answer; Tornado closes silently",
    "_h11_checks.py::ContentTooLarge": "our 413 answer; Tornado sends a bare 400",
    "_h11_checks.py::skip_empty_line": "h11 refuses the empty line Tornado skips",
    "_h11_checks.py::request_from_h11": "turns h11's Request into Tornado's start line",
    "_h11_checks.py::check_header_block": "a check Tornado's own parser makes as it reads",
    "_h11_checks.py::check_request": "a check Tornado's own parser makes as it reads",
    "_h11_checks.py::check_content_length": "h11 reads the length; Tornado's _read_body checks it",
    "_h11_checks.py::chunk_bytes_announced": "h11 keeps the chunk size to itself",
    "http1connection.py::BARE_400": "the bytes Tornado writes inline in _read_message_inner",
    "_h11_checks.py::ANSWER_431": "our answer where Tornado closes silently",
    "_h11_checks.py::ANSWER_413": "our answer where Tornado sends a bare 400",
    "_h11_checks.py::answer_to_refused": "picks one of the two answers above, or none",
    "_h11_checks.py::tornado_reason": "Tornado's words for a refusal h11 made",
    "_h11_checks.py::reason_for_header_block": "reads a refused block as Tornado does, for its "
    "reason",
    "_h11_checks.py::check_framing": "Tornado's _read_body and is_transfer_encoding_chunked "
    "checks, for their messages",
    "web.py::SERVER_HEADER": "Tornado writes its Server value inline in clear()",
    "httpserver.py::HTTPServer.shutdown": "graceful drain; Tornado only has close_all_connections",
    "http1connection.py::HTTP1ServerConnection.close_when_idle": "the per-connection half of "
    "HTTPServer.shutdown",
    "http1connection.py::HTTP1ServerConnection.wait_closed": "HTTPServer.shutdown waits on it",
    "http1connection.py::HTTP1Connection.serve_as_last": "close_when_idle's half for a request "
    "in progress",
    "httputil.py::HTTPHeaders.get": "Mapping.get without a KeyError per missing header (speed)",
}


# ---- Reading markers --------------------------------------------------------------------------


def marker_comments(source: str) -> list[tuple[int, str]]:
    """(line, comment) for every comment that starts ``# Tornado:`` (not docstring text)."""
    return [
        (token.start[0], token.string)
        for token in tokenize.generate_tokens(io.StringIO(source).readline)
        if token.type == tokenize.COMMENT and re.match(r"#\s*Tornado:", token.string)
    ]


def dangling_markers(source: str) -> list[str]:
    """Every marker in ``source`` that does not name a definition in the installed Tornado."""
    root = tornado_root()
    assert root is not None, "Tornado 6.6.1 (the test extra) must be installed"
    problems = []
    for line, comment in marker_comments(source):
        found = MARKER.match(comment)
        if found is None:
            problems.append(f"line {line}: not '# Tornado: tornado/X.py::Qual.name': {comment}")
            continue
        file = root / found["path"]
        if not file.is_file():
            problems.append(f"line {line}: Tornado has no file {found['path']}")
        elif found["qualname"] not in definitions(file):
            problems.append(f"line {line}: {found['path']} defines no {found['qualname']}")
    return problems


def test_a_dangling_marker_is_reported() -> None:
    # Scenario: the check can fail: a misspelt name, a missing file and a marker without
    # path::qualname are each reported; a marker with trailing text is not.
    source = (
        "# Tornado: tornado/netutil.py::bind_sockets (study path, step 4)\n"
        "# Tornado: tornado/netutil.py::bind_socket\n"
        "# Tornado: tornado/nosuchfile.py::x\n"
        "x = 1  # Tornado: bind_sockets\n"
        '"""# Tornado: inside a string is not a marker"""\n'
    )
    problems = dangling_markers(source)
    assert [p.split(":")[0] for p in problems] == ["line 2", "line 3", "line 4"], problems


@pytest.mark.parametrize("module", MODULES, ids=rel)
def test_every_tornado_marker_names_a_real_tornado_definition(module: Path) -> None:
    # Scenario: each marker in the module resolves in Tornado 6.6.1's parsed source.
    assert dangling_markers(module.read_text()) == []


def test_the_markers_cover_the_mirrored_modules() -> None:
    # Scenario: a sanity floor, so a broken comment scanner cannot pass by finding nothing.
    count = sum(len(marker_comments(m.read_text())) for m in MODULES)
    assert count > 300


# ---- Every public name: a marker, or ours alone -------------------------------------------------


@dataclass
class Definition:
    qualname: str
    line: int
    marker: str | None  # the marker comment covering it, if any
    run_of: str | None  # the first name of the run the marker covers, when not the marked one


def public_definitions(source: str) -> list[Definition]:
    """The module's public classes, functions, constants, and public classes' members."""
    lines = source.splitlines()
    found: list[Definition] = []
    _walk(ast.parse(source).body, "", lines, found)
    return found


def _walk(body: list[ast.stmt], prefix: str, lines: list[str], found: list[Definition]) -> None:
    run: Definition | None = None  # the marked assignment a run of assignments started from
    previous_end = -1
    for node in body:
        if _is_overload(node):
            continue  # a typing stub of the definition below it, which carries the marker
        names = _defined_names(node)
        marker = _marker_above(node, lines)
        is_assignment = isinstance(node, (ast.Assign, ast.AnnAssign))
        in_run = is_assignment and run is not None and node.lineno == previous_end + 1
        for name in names:
            definition = Definition(prefix + name, node.lineno, marker, None)
            if marker is None and in_run and run is not None:
                definition.marker, definition.run_of = run.marker, run.qualname
            if not name.startswith("_"):
                found.append(definition)
            if is_assignment and definition.marker is not None and not in_run:
                run = definition
        if not in_run and not (is_assignment and marker):
            run = None
        previous_end = node.end_lineno or node.lineno
        if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            _walk(node.body, prefix + node.name + ".", lines, found)


def _is_overload(node: ast.stmt) -> bool:
    """Whether ``node`` is an ``@overload`` signature (a stub: no marker of its own)."""
    decorators = getattr(node, "decorator_list", [])
    return any(
        (isinstance(d, ast.Name) and d.id == "overload")
        or (isinstance(d, ast.Attribute) and d.attr == "overload")
        for d in decorators
    )


def _defined_names(node: ast.stmt) -> list[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, ast.Assign):
        return [t.id for t in node.targets if isinstance(t, ast.Name) and t.id != "__all__"]
    if isinstance(node, ast.AnnAssign) and node.value is not None:
        # Without a value it only declares a field (a NamedTuple's, an instance attribute).
        return [node.target.id] if isinstance(node.target, ast.Name) else []
    return []


def _marker_above(node: ast.stmt, lines: list[str]) -> str | None:
    """The marker in the comment block right above ``node`` (or trailing its first line)."""
    trailing = MARKER.search(lines[node.lineno - 1])
    if trailing:
        return trailing[0]
    decorators = getattr(node, "decorator_list", [])
    i = min([node.lineno, *(d.lineno for d in decorators)]) - 2
    while i >= 0 and lines[i].strip().startswith("#"):
        found = MARKER.search(lines[i])
        if found:
            return found[0]
        i -= 1
    return None


@pytest.mark.parametrize("module", MODULES, ids=rel)
def test_every_public_name_has_a_marker_or_is_ours_alone(module: Path) -> None:
    # Scenario: a public name with no "# Tornado:" marker must be listed in OURS_ALONE
    # (with its reason); a listed name must not also carry a marker.
    if rel(module) in OURS_ALONE_MODULES:
        return
    root = tornado_root()
    assert root is not None
    unmarked, run_errors, listed_and_marked = [], [], []
    for definition in public_definitions(module.read_text()):
        key = f"{rel(module)}::{definition.qualname}"
        if definition.marker is None:
            if key not in OURS_ALONE:
                unmarked.append(f"{key} (line {definition.line})")
            continue
        if key in OURS_ALONE:
            listed_and_marked.append(key)
        if definition.run_of is not None:
            # Covered by the marker above its run: the same class in Tornado defines it too.
            found = MARKER.search(definition.marker)
            assert found is not None
            parent = found["qualname"].rpartition(".")[0]
            name = definition.qualname.rpartition(".")[2]
            wanted = f"{parent}.{name}" if parent else name
            if wanted not in definitions(root / found["path"]):
                run_errors.append(f"{key}: {found['path']} defines no {wanted}")
    assert unmarked == [], "add a '# Tornado:' marker, or list these in OURS_ALONE"
    assert run_errors == []
    assert listed_and_marked == []


def test_every_ours_alone_entry_still_exists() -> None:
    # Scenario: a name removed or renamed in the code must leave the list too.
    names = {
        f"{rel(module)}::{d.qualname}"
        for module in MODULES
        for d in public_definitions(module.read_text())
    }
    assert sorted(set(OURS_ALONE) - names) == []
    assert all(reason.strip() for reason in OURS_ALONE.values())
    assert all((PACKAGE / name).is_file() for name in OURS_ALONE_MODULES)


def test_public_name_scan_sees_unmarked_names_and_runs() -> None:
    # Scenario: the scanner itself: an unmarked function is reported unmarked; a marker
    # covers the run of assignments right below it, not one after a blank line.
    source = (
        "@overload\n"
        "def utf8(value: str) -> bytes: ...\n"
        "# Tornado: tornado/escape.py::utf8\n"
        "def utf8(value): pass\n"
        "def bare(): pass\n"
        "# Tornado: tornado/web.py::RequestHandler.head\n"
        "head = 1\n"
        "get = 1\n"
        "\n"
        "post = 1\n"
    )
    found = {d.qualname: d for d in public_definitions(source)}
    assert [d.marker for d in public_definitions(source) if d.qualname == "utf8"] == [
        "# Tornado: tornado/escape.py::utf8"
    ]
    assert found["bare"].marker is None
    assert found["head"].marker and found["head"].run_of is None
    assert found["get"].run_of == "head"
    assert found["post"].marker is None


# ---- Map docstrings -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "module", [m for m in MODULES if m.name != "__init__.py"], ids=rel
)
def test_every_module_opens_with_its_map_docstring(module: Path) -> None:
    # Scenario: what it does (a first line), what it mirrors (or that it is ours alone),
    # what it keeps and leaves out, and its steps on the study path, all of which exist.
    doc = ast.get_docstring(ast.parse(module.read_text()), clean=True)
    assert doc, f"{rel(module)} has no docstring"
    assert doc.splitlines()[0].strip(), "the first line says what the module does"
    ours_alone = rel(module) in OURS_ALONE_MODULES
    if ours_alone:
        assert re.search(r"^Mirrors: nothing|\bours alone\b", doc, re.M | re.I), (
            f"{rel(module)}: say that Tornado has no counterpart, and why"
        )
    else:
        assert re.search(r"^Mirrors: .*tornado/\w+", doc, re.M), f"{rel(module)}: no Mirrors:"
        assert re.search(r"^Kept\b", doc, re.M), f"{rel(module)}: no Kept:"
        assert re.search(r"^Left out\b", doc, re.M), f"{rel(module)}: no Left out:"
    study = re.search(r"^Study path\b(.*?)(?:\n\n|\Z)", doc, re.M | re.S)
    assert study, f"{rel(module)}: no 'Study path' paragraph"
    numbers = {step.number for step in STUDY_PATH}
    assert steps_mentioned(study[1]) <= numbers, (rel(module), steps_mentioned(study[1]))


def steps_mentioned(text: str) -> set[str]:
    """The step numbers a text cites: "step 4", "steps 3, 5 and 10", "steps 10 to 17",
    "1-3", "S2 to S5", "P1 to P5", "T3 to T6"."""
    found: set[str] = set()
    for first, last in re.findall(r"\b([SPT]?\d+) ?(?:-|to) ?([SPT]?\d+)\b", text):
        prefix = first.rstrip("0123456789")
        if last.rstrip("0123456789") == prefix:
            low, high = int(first.lstrip("SPT")), int(last.lstrip("SPT"))
            found.update(f"{prefix}{n}" for n in range(low, high + 1))
    for listed in re.findall(r"\bsteps? ((?:[SPT]?\d+(?:, | and | or ))*[SPT]?\d+)\b", text):
        found.update(re.findall(r"[SPT]?\d+", listed))
    return found


def test_steps_mentioned_reads_lists_and_ranges() -> None:
    # Scenario: the reader of step numbers in prose, on the forms module docstrings use.
    text = (
        "step 4, steps 3, 5 and 10, steps 10 to 12, S2-S4, P1 to P2, step T1, T3 to T4, "
        "and 1-2 (not 400 or 1.1)"
    )
    assert steps_mentioned(text) == {
        "1", "2", "3", "4", "5", "10", "11", "12", "S2", "S3", "S4", "P1", "P2", "T1", "T3",
        "T4",
    }  # fmt: skip


@pytest.mark.parametrize("step", STUDY_PATH, ids=lambda s: f"step{s.number}")
def test_each_step_is_named_in_its_module_docstring(step: Step) -> None:
    # Scenario: a reader who opens the module of a step finds the step's number in its map.
    for ours, _ in step.pairs():
        if ours.startswith("minitornado/"):
            path = ROOT / ours.partition("::")[0]
            doc = ast.get_docstring(ast.parse(path.read_text())) or ""
            assert step.number in steps_mentioned(doc), f"{path.name} does not cite {step.number}"


@pytest.mark.parametrize("module", MODULES, ids=rel)
def test_step_numbers_in_markers_are_the_steps_of_those_definitions(module: Path) -> None:
    # Scenario: a marker that says "step N" sits on a definition that step N goes through
    # (or on the class of one), so the numbers in the code cannot drift from the tour.
    source = module.read_text()
    lines = source.splitlines()
    steps_of: dict[str, set[int]] = {}
    for step in STUDY_PATH:
        for ours, _ in step.pairs():
            path, _, qualname = ours.partition("::")
            if path == f"minitornado/{rel(module)}":
                for prefix in _prefixes(qualname):
                    steps_of.setdefault(prefix, set()).add(step.number)
    wrong = []
    for node, qualname in _all_definitions(ast.parse(source).body, ""):
        said = set(re.findall(r"\bstep ([SPT]?\d+)\b", _comment_block_above(node, lines)))
        if said and not said <= steps_of.get(qualname, set()):
            wrong.append(f"{qualname}: marker says step {sorted(said)}")
    assert wrong == []


def _prefixes(qualname: str) -> list[str]:
    parts = qualname.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def _all_definitions(body: list[ast.stmt], prefix: str) -> list[tuple[ast.stmt, str]]:
    found: list[tuple[ast.stmt, str]] = []
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found.append((node, prefix + node.name))
            if isinstance(node, ast.ClassDef):
                found += _all_definitions(node.body, prefix + node.name + ".")
    return found


def _comment_block_above(node: ast.stmt, lines: list[str]) -> str:
    decorators = getattr(node, "decorator_list", [])
    i = min([node.lineno, *(d.lineno for d in decorators)]) - 2
    block = []
    while i >= 0 and lines[i].strip().startswith("#"):
        block.append(lines[i])
        i -= 1
    return "\n".join(block)
