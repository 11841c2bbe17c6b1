"""The tour as terminal text: each step's summary, then its code, in one of three layouts.

Ours alone: Tornado has no tour. ``python -m minitornado.study.tour`` prints with this module;
``minitornado.study.tour`` decides what goes in a step, this module only lays it out.

The layouts, one per command-line choice:

- ``"ours"`` (the default): the code that runs in minitornado, numbered, with a heading line
  saying where Tornado does the same.
- ``"after"`` (``--tornado``): that code, then Tornado's, one after the other.
- ``"beside"`` (``--side-by-side``): the two in columns that together fit ``width``; a line
  too long for its column continues below, indented past its own indentation, with no number.

Study path: none; this prints all of it.
"""

from __future__ import annotations

import itertools
import textwrap
from typing import TYPE_CHECKING

from minitornado.study._tour_source import Column, Source

if TYPE_CHECKING:
    from minitornado.study.tour import Step

LAYOUTS = ("ours", "after", "beside")
MIN_WIDTH = 60  # the narrowest printed: side by side, two columns of 28 characters
HANGING_INDENT = 4  # as on the HTML page: continuation lines start this far past the indentation
_GUTTER = 7  # "  147 | " in one column, "  147  " beside: the number and its margin
_SEPARATOR = " | "


def phase_banner(intro: str, width: int) -> str:
    """The line that opens a phase: its intro, said once, between two rules of ``#``."""
    rule = "#" * width
    return f"{rule}\n{textwrap.fill(intro[:1].upper() + intro[1:], width)}\n{rule}\n"


def render_step(step: Step, rows: list[tuple[Column, Column]], layout: str, width: int) -> str:
    """One step: a heading, what happens, then each pair of columns in ``layout``."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout is one of {LAYOUTS}, not {layout!r}")
    rule = "=" * width
    title = textwrap.fill(f"Step {step.number} ({step.phase}): {step.title}", width)
    parts = [f"{rule}\n{title}\n{rule}", textwrap.fill(step.what, width)]
    for left, right in rows:
        if layout == "beside":
            parts.append(_beside(left, right, width))
        elif layout == "after":
            parts += [_one_column(left, width), _one_column(right, width)]
        else:
            parts.append(_one_column(left, width, also=right))
    return "\n\n".join(parts) + "\n"


def _one_column(column: Column, width: int, also: Column | None = None) -> str:
    """A column's heading (and ``also``'s, the other side's), its note, its numbered code."""
    sides = [column, also] if also else [column]
    head = [side.heading for side in sides]
    head += [textwrap.fill(side.note, width) for side in sides if side.note]
    code = f"\n\n{numbered(column.source)}" if column.source else ""
    return "\n".join(head) + code


def numbered(source: Source) -> str:
    """The source with its file line numbers in a margin."""
    return "\n".join(
        f"{source.first_line + i:>5} | {line}".rstrip()
        for i, line in enumerate(source.text.splitlines())
    )


def _beside(left: Column, right: Column, width: int) -> str:
    """The two columns side by side, each wrapped to half of ``width``."""
    half = (max(width, MIN_WIDTH) - len(_SEPARATOR)) // 2
    heads = [_fitted_head(left, half), _fitted_head(right, half)]
    tall = max(map(len, heads))
    # The shorter head is padded, so that both sources start on the same row.
    left_lines, right_lines = (
        head + [""] * (tall - len(head)) + _fitted_code(column, half)
        for head, column in zip(heads, (left, right), strict=True)
    )
    return "\n".join(
        f"{a:<{half}}{_SEPARATOR}{b}".rstrip()
        for a, b in itertools.zip_longest(left_lines, right_lines, fillvalue="")
    )


def _fitted_head(column: Column, width: int) -> list[str]:
    """A column's heading and note, wrapped to ``width``, and a blank line."""
    lines = textwrap.wrap(column.heading, width, subsequent_indent="  ")
    return lines + (textwrap.wrap(column.note, width) if column.note else []) + [""]


def _fitted_code(column: Column, width: int) -> list[str]:
    """The numbered source, if any, each line wrapped to ``width``: pieces after the first
    have no number."""
    source, lines = column.source, list[str]()
    if source is None:
        return lines
    for i, line in enumerate(source.text.splitlines()):
        pieces = wrap_code(line, width - _GUTTER)
        lines.append(f"{source.first_line + i:>5}  {pieces[0]}".rstrip())
        lines += [" " * _GUTTER + piece for piece in pieces[1:]]
    return lines


def wrap_code(line: str, width: int) -> list[str]:
    """``line`` in pieces of at most ``width`` characters, cut at a space in the piece's
    second half if there is one, else mid-word.

    Every piece after the first starts ``HANGING_INDENT`` past the line's own indentation
    (at most half of ``width``), so a continuation reads as one.
    """
    indent = min(len(line) - len(line.lstrip(" ")) + HANGING_INDENT, width // 2)
    pieces, rest = [], line
    while len(rest) > width:
        lead = len(rest) - len(rest.lstrip(" "))
        cut = rest.rfind(" ", lead, width + 1)
        if cut <= max(lead, width // 2):  # a piece of a few characters would read worse
            cut = width
        pieces.append(rest[:cut].rstrip())
        rest = " " * indent + rest[cut:].lstrip(" ")
    pieces.append(rest)
    return pieces
