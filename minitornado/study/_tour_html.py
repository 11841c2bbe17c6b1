"""The tour as one static HTML page: for each step, our code and Tornado's side by side.

Ours alone: Tornado has no tour. ``python -m minitornado.study.tour --html FILE`` writes the page;
``minitornado.study.tour`` decides what goes in it, this module only lays it out. The page is
self-contained (inline CSS, no script, no network), so it opens from a ``file://`` URL.

Every step is a ``<section class="step">``; each of its definitions is a ``<div class="pair">``
holding two columns, ``<div class="col ours">`` and ``<div class="col tornado">``, each a
heading and a ``<pre>`` of source. tests/test_tour.py loads the page in headless Chromium
and checks, on the page as laid out, that both columns of every step have a size and text.

Study path: none; this shows all of it.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from minitornado.study._tour_source import Source

if TYPE_CHECKING:
    from minitornado.study.tour import Step


@dataclass(frozen=True)
class Column:
    """One side of a pair: a heading, the source (None if it cannot be read), a note."""

    heading: str
    source: Source | None
    note: str = ""


_STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1700px;
       padding: 1em 2em; color: #1d1d1f; background: #fafafa; }
nav a { margin-right: 0.7em; }
section.step { border-top: 2px solid #c9c9d0; margin-top: 2em; }
h2 small { font-weight: normal; color: #666; }
.pair { display: grid; grid-template-columns: 1fr 1fr; gap: 1em; margin: 1em 0; }
.col { min-width: 0; background: #fff; border: 1px solid #d8d8de; border-radius: 6px; }
.col h3 { font: 600 13px ui-monospace, monospace; margin: 0; padding: 0.5em 0.8em;
          border-bottom: 1px solid #d8d8de; background: #e8eefc; }
.col.tornado h3 { background: #fcebe8; }
.col p.note { margin: 0.5em 0.8em; font-style: italic; }
pre { margin: 0; padding: 0.6em 0.8em; overflow-x: auto;
      font: 12.5px/1.4 ui-monospace, SFMono-Regular, Menlo, monospace; }
.ln { color: #9a9aa2; user-select: none; }
"""


def render_html(
    steps: Sequence[tuple[Step, list[tuple[Column, Column]]]],
    tornado_version: str | None,
    phases: Mapping[str, str],
) -> str:
    """The whole page: a title, links to the steps, then one section per step."""
    against = f"Tornado {tornado_version}" if tornado_version else "Tornado (not installed)"
    links = " ".join(
        f'<a href="#step-{step.number}">{step.number}. {_e(step.title)}</a>' for step, _ in steps
    )
    body = "\n".join(_section(step, rows, phases) for step, rows in steps)
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>minitornado: the study path beside {against}</title>\n"
        f"<style>{_STYLE}</style>\n</head>\n<body>\n"
        f"<h1>The study path: minitornado beside {against}</h1>\n"
        "<p>Left, minitornado's code as it runs (read with <code>inspect</code>); right, where "
        f"{against} does the same. Written by <code>python -m minitornado.study.tour --html</code>."
        f"</p>\n<nav>{links}</nav>\n{body}\n</body>\n</html>\n"
    )


def _section(step: Step, rows: list[tuple[Column, Column]], phases: Mapping[str, str]) -> str:
    pairs = "\n".join(
        f'<div class="pair">{_column("ours", ours)}{_column("tornado", theirs)}</div>'
        for ours, theirs in rows
    )
    return (
        f'<section class="step" id="step-{step.number}" data-step="{step.number}">\n'
        f"<h2>{step.number}. {_e(step.title)} <small>{_e(phases[step.phase])}</small></h2>\n"
        f'<p class="what">{_e(step.what)}</p>\n{pairs}\n</section>'
    )


def _column(side: str, column: Column) -> str:
    note = f'<p class="note">{_e(column.note)}</p>' if column.note else ""
    if column.source is None:
        code = _e(column.note or "(no source)")
    else:
        first = column.source.first_line
        code = "\n".join(
            f'<span class="ln">{first + i:>5} </span>{_e(line)}'
            for i, line in enumerate(column.source.text.splitlines())
        )
    return (
        f'<div class="col {side}"><h3>{_e(column.heading)}</h3>{note}'
        f"<pre><code>{code}</code></pre></div>"
    )


def _e(text: str) -> str:
    return html.escape(text, quote=True)
