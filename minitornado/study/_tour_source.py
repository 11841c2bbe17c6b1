"""Where a definition lives, and its text: ours read live with ``inspect``, Tornado's with ``ast``.

Ours alone: Tornado has nothing like it. ``minitornado.study.tour`` shows the study path with it,
and tests/test_annotations.py resolves every ``# Tornado:`` marker with ``definitions``.

A reference names one definition the way the markers do, ``path::qualname``:
``minitornado/web.py::Application.listen``, ``tornado/netutil.py::bind_sockets``,
``asyncio/selector_events.py::BaseSelectorEventLoop.add_reader``. The path is relative to the
directory the package is installed in, so one form works for our code, the standard library
and the installed Tornado.

Ours and the standard library's are imported and read with ``inspect``: what is shown is the
code that runs. Tornado's files are only parsed (``ast``), never imported, so the tour works
without Tornado's import-time side effects, and a marker naming something that is not a real
definition (a typo, a name Tornado renamed) is found without running anything.

``Column`` is one side of the tour's pairs, what ``tour.columns`` builds from a step and the
page (``_tour_html``) and the terminal text (``_tour_text``) lay out.

Study path: none; this reads the code of every step.
"""

from __future__ import annotations

import ast
import functools
import importlib
import importlib.util
import inspect
import textwrap
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Source:
    """The text of one definition and where it starts."""

    ref: str  # path::qualname
    file: Path
    first_line: int  # 1-based, the first decorator if there is one
    text: str  # dedented, no trailing newline

    @property
    def length(self) -> int:
        return self.text.count("\n") + 1

    @property
    def location(self) -> str:
        """``tornado/web.py:2422``: the ref's path with the first line's number."""
        return f"{split_ref(self.ref)[0]}:{self.first_line}"

    @property
    def where(self) -> str:
        """``tornado/web.py:2422 Application.listen (43 lines)``, as the tour's headings say it."""
        return f"{self.location} {split_ref(self.ref)[1]} ({self.length} lines)"


@dataclass(frozen=True)
class Column:
    """One side of a pair as the tour shows it: whose code, where it is, its text, a note.

    ``kind`` says whose code it is: on the left ``"ours"``, ``"asyncio"`` (the standard
    library's, which both servers run) or ``"app"`` (the application's own code); on the
    right ``"tornado"``. ``who`` is the label a reader sees for it.
    """

    kind: str
    who: str  # "ours (minitornado)", "asyncio (standard library, run by both)", "Tornado 6.6.1"
    where: str  # Source.where, or what stands in for it when there is no source
    source: Source | None  # None: no code to show; the note or the heading says why
    note: str = ""

    @property
    def heading(self) -> str:
        return f"{self.who}: {self.where}"


NOT_INSTALLED = "Tornado is not installed here: pip install tornado==6.6.1 to read its side."


def split_ref(ref: str) -> tuple[str, str]:
    """``"tornado/web.py::Application.listen"`` -> ``("tornado/web.py", "Application.listen")``."""
    path, sep, qualname = ref.partition("::")
    if not sep or not path.endswith(".py") or not qualname:
        raise ValueError(f"not a path::qualname reference: {ref!r}")
    return path, qualname


# ---- Ours (and the standard library's): import, then inspect -------------------------------


def our_source(ref: str) -> Source:
    """Import the module ``ref`` names and read the definition with ``inspect``."""
    path, qualname = split_ref(ref)
    module_name = path.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
    target: object = importlib.import_module(module_name)
    for part in qualname.split("."):
        target = getattr(target, part)  # an AttributeError names the stale reference
    if isinstance(target, property) and target.fget is not None:
        target = target.fget
    if callable(target):
        target = inspect.unwrap(target)
    lines, first_line = inspect.getsourcelines(target)  # type: ignore[arg-type]
    file = Path(inspect.getsourcefile(target) or "")  # type: ignore[arg-type]
    return Source(ref, file, first_line, textwrap.dedent("".join(lines)).rstrip())


# ---- Tornado's: parse, never import -----------------------------------------------------------


def tornado_root() -> Path | None:
    """The directory that holds the installed ``tornado`` package, or None without Tornado."""
    spec = importlib.util.find_spec("tornado")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))).parent


def tornado_version() -> str | None:
    """The installed Tornado's ``version`` string, read from its ``__init__.py``."""
    root = tornado_root()
    if root is None:
        return None
    for node in ast.parse((root / "tornado" / "__init__.py").read_text()).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "version" for t in node.targets
        ):
            return str(ast.literal_eval(node.value))
    return None


def tornado_source(ref: str) -> Source | None:
    """Tornado's definition ``ref`` names, or None when Tornado is not installed.

    A name the file does not define raises ``KeyError``.
    """
    root = tornado_root()
    if root is None:
        return None
    path, qualname = split_ref(ref)
    file = root / path
    first, last = definitions(file)[qualname]
    lines = file.read_text().splitlines()[first - 1 : last]
    return Source(ref, file, first, textwrap.dedent("\n".join(lines)).rstrip())


@functools.cache
def definitions(file: Path) -> dict[str, tuple[int, int]]:
    """Every definition in a Python file: qualname -> (first line, last line).

    Classes, functions and methods (nested functions as ``f.<locals>.g``, as Python's own
    ``__qualname__`` says), and names assigned at module or class level, also inside
    ``if`` / ``try`` blocks. The first definition of a name wins.
    """
    found: dict[str, tuple[int, int]] = {}
    _collect(ast.parse(file.read_text(), str(file)).body, "", found)
    return found


def _collect(body: list[ast.stmt], prefix: str, found: dict[str, tuple[int, int]]) -> None:
    for node in body:
        end = node.end_lineno or node.lineno
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            name = prefix + node.name
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            found.setdefault(name, (first, end))
            inner = "." if isinstance(node, ast.ClassDef) else ".<locals>."
            _collect(node.body, name + inner, found)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)) and not prefix.endswith("<locals>."):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for name_node in ast.walk(target):
                    if isinstance(name_node, ast.Name):
                        found.setdefault(prefix + name_node.id, (node.lineno, end))
        elif isinstance(node, (ast.If, ast.Try, ast.With)):
            # A definition made conditionally (per platform, per Python) is still a definition.
            for block in ("body", "orelse", "finalbody"):
                _collect(getattr(node, block, []), prefix, found)
            for handler in getattr(node, "handlers", []):
                _collect(handler.body, prefix, found)
