"""A copy of minitornado without its trace hooks: the baseline for "trace off costs < 2%".

The hooks cannot be removed at run time: with tracing off, each one still costs the test of
its guard (``if trace.enabled:``). To measure that cost honestly, the benchmark serves the
same app from a second copy of the package in which every such ``if`` block has been
replaced by ``pass``, line for line, so nothing else moves. The two differ by the guards
alone; the difference in server CPU per request is what tracing costs when it is off.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent / "minitornado"


def has_trace_hooks(package_dir: Path = PACKAGE_DIR) -> bool:
    """True if some module of the package guards code with ``trace.enabled``."""
    return any(_guards(path) for path in package_dir.glob("*.py"))


def make_copy(destination: Path, package_dir: Path = PACKAGE_DIR) -> int:
    """Write the stripped package to ``destination/minitornado``; return the guards removed."""
    target = destination / "minitornado"
    target.mkdir(parents=True)
    removed = 0
    for path in package_dir.iterdir():
        if path.suffix == ".py":
            source, count = strip(path.read_text())
            (target / path.name).write_text(source)
            removed += count
        elif path.is_file():
            shutil.copy(path, target / path.name)
    return removed


def strip(source: str) -> tuple[str, int]:
    """``source`` with each ``if trace.enabled: ...`` block (without ``else``) turned into
    ``pass``, keeping the line count; and how many blocks that was."""
    lines = source.splitlines(keepends=True)
    guards = _guards_in(source)
    for node in sorted(guards, key=lambda n: n.lineno, reverse=True):
        first, last = node.lineno - 1, (node.end_lineno or node.lineno) - 1
        indent = lines[first][: len(lines[first]) - len(lines[first].lstrip())]
        lines[first : last + 1] = [f"{indent}pass\n"] + ["\n"] * (last - first)
    return "".join(lines), len(guards)


def _guards(path: Path) -> list[ast.If]:
    return _guards_in(path.read_text())


def _guards_in(source: str) -> list[ast.If]:
    # Outermost guards only: a guard nested in another goes with it.
    found: list[ast.If] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and not child.orelse and _is_guard(child.test):
                found.append(child)
            else:
                visit(child)

    visit(ast.parse(source))
    return found


def _is_guard(test: ast.expr) -> bool:
    return "trace.enabled" in ast.unparse(test)
