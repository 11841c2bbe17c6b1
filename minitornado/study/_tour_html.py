"""The tour as one static HTML page: for each step, the code that runs and Tornado's side by side.

Ours alone: Tornado has no tour. ``python -m minitornado.study.tour --html FILE`` writes the page;
``minitornado.study.tour`` decides what goes in it, this module only lays it out. The page is
self-contained (inline CSS, no script, no network), so it opens from a ``file://`` URL.

The page, top to bottom: a title and one paragraph; a ``<nav>`` strip kept at the top of the
window (one line on a wide screen), with each phase's name and its step numbers as links; then one
``<section class="phase">`` per phase, its intro said once in its ``<h2>``, holding its
``<section class="step">`` elements. Each definition of a step is a ``<div class="pair">`` of
two columns: ``<div class="col left ours">`` (``asyncio`` or ``app`` instead of ``ours`` when
the code is not minitornado's) and ``<div class="col right tornado">``, each a heading, a note
if there is one, and a ``<pre>`` of source if there is source to show.

Code wraps instead of scrolling sideways: each source line is a grid row, its number in the
margin, and a line too long for its column continues below, indented past the line's own
indentation, with no number. tests/test_tour.py loads the page in headless Chromium and checks,
on the page as laid out, that both columns of every step have a size and text, that no code
block is wider than its box, that no sentence appears twice, that asyncio's code is not
labelled ours, and that the nav is one line.

Study path: none; this shows all of it.
"""

from __future__ import annotations

import html
import itertools
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from minitornado.study._tour_source import NOT_INSTALLED, Column, Source

if TYPE_CHECKING:
    from minitornado.study.tour import Step

_STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1700px;
       padding: 0 1.2em 2em; color: #1d1d1f; background: #fafafa; }
h1 { margin: 0.6em 0 0.3em; }
nav { position: sticky; top: 0; z-index: 1; display: flex; flex-wrap: wrap; gap: 0.2em 1.4em;
      padding: 0.45em 0; background: #fafafa; border-bottom: 1px solid #c9c9d0; }
nav .group { white-space: nowrap; }
nav a { text-decoration: none; color: #1a4fb5; }
nav a.phase { font-weight: 600; margin-right: 0.3em; color: #1d1d1f; }
nav a.n { display: inline-block; min-width: 1.7em; text-align: center; border-radius: 4px;
          font: 13px/1.7 ui-monospace, SFMono-Regular, Menlo, monospace; }
nav a.n:hover { background: #dfe6f7; }
section.phase > h2 { margin: 1.6em 0 0; padding: 0.3em 0.6em; background: #eceef3;
                     border-left: 5px solid #6b7a99; font-size: 1.25em; }
section.step { border-top: 2px solid #c9c9d0; margin-top: 1.6em; }
section.phase, section.step { scroll-margin-top: 2.6em; }
section.phase > h2 + section.step { border-top: none; margin-top: 0.8em; }
h3 { margin: 0.6em 0 0.2em; }
p.what { margin: 0.2em 0 0.6em; max-width: 60em; }
.pair { display: grid; grid-template-columns: 1fr 1fr; gap: 0.8em; margin: 1em 0; }
@media (max-width: 900px) { .pair { grid-template-columns: 1fr; } }
.col { min-width: 0; background: #fff; border: 1px solid #d8d8de; border-radius: 6px; }
.col h4 { font: 12.5px/1.4 ui-monospace, SFMono-Regular, Menlo, monospace; margin: 0;
          padding: 0.45em 0.8em; border-bottom: 1px solid #d8d8de; overflow-wrap: anywhere;
          border-radius: 6px 6px 0 0; }
.col h4 .who { font: 600 13px system-ui, sans-serif; margin-right: 0.5em; }
.col.ours h4 { background: #e8eefc; }
.col.asyncio h4 { background: #e3f2e6; }
.col.app h4 { background: #efe9f7; }
.col.tornado h4 { background: #fcebe8; }
.col p.note { margin: 0.5em 0.8em; font-style: italic; }
pre { margin: 0; padding: 0.6em 0.6em 0.6em 0.2em; overflow-x: auto; --hang: 4;
      font: 12.5px/1.4 ui-monospace, SFMono-Regular, Menlo, monospace; }
pre .l { display: grid; grid-template-columns: 6ch 1fr; }
pre .ln { color: #9a9aa2; user-select: none; text-align: right; padding-right: 1ch; }
pre .c { white-space: pre-wrap; overflow-wrap: anywhere; min-width: 0;
         padding-left: calc((var(--n, 0) + var(--hang)) * 1ch);
         text-indent: calc((var(--n, 0) + var(--hang)) * -1ch); }
"""


def render_html(
    steps: Sequence[tuple[Step, list[tuple[Column, Column]]]],
    tornado_version: str | None,
    phases: Mapping[str, str],
) -> str:
    """The whole page: a title, the nav strip, then the steps grouped by phase."""
    against = f"Tornado {tornado_version}" if tornado_version else "Tornado"
    missing = "" if tornado_version else f" {_e(NOT_INSTALLED)}"
    by_phase = [(phase, list(group)) for phase, group in itertools.groupby(steps, _phase_of)]
    body = "\n".join(_phase(phase, phases[phase], group) for phase, group in by_phase)
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>minitornado: the study path beside {against}</title>\n"
        f"<style>{_STYLE}</style>\n</head>\n<body>\n"
        f"<h1>The study path: minitornado beside {against}</h1>\n"
        "<p>For each step, left: the code that runs in minitornado, read live with "
        "<code>inspect</code> (ours, or asyncio's where both servers run the standard "
        f"library's code); right: where {against} does the same.{missing} A source line "
        "without a number continues the line above it. Written by "
        "<code>python -m minitornado.study.tour --html</code>.</p>\n"
        f"{_nav(by_phase)}\n{body}\n</body>\n</html>\n"
    )


def _phase_of(item: tuple[Step, list[tuple[Column, Column]]]) -> str:
    return item[0].phase


def _nav(by_phase: list[tuple[str, list[tuple[Step, list[tuple[Column, Column]]]]]]) -> str:
    """One strip of links: each phase's name, then its step numbers (titles on hover)."""
    groups = []
    for phase, group in by_phase:
        numbers = " ".join(
            f'<a class="n" href="#step-{step.number}" title="{_e(step.title)}">{step.number}</a>'
            for step, _ in group
        )
        groups.append(
            f'<span class="group"><a class="phase" href="#phase-{phase}">{_e(phase)}</a>'
            f"{numbers}</span>"
        )
    return f'<nav aria-label="steps">{"".join(groups)}</nav>'


def _phase(phase: str, intro: str, group: list[tuple[Step, list[tuple[Column, Column]]]]) -> str:
    sections = "\n".join(_section(step, rows) for step, rows in group)
    heading = intro[:1].upper() + intro[1:]
    return (
        f'<section class="phase" id="phase-{phase}">\n<h2>{_e(heading)}</h2>\n'
        f"{sections}\n</section>"
    )


def _section(step: Step, rows: list[tuple[Column, Column]]) -> str:
    pairs = "\n".join(
        f'<div class="pair">{_column("left", left)}{_column("right", right)}</div>'
        for left, right in rows
    )
    return (
        f'<section class="step" id="step-{step.number}" data-step="{step.number}">\n'
        f"<h3>{step.number}. {_e(step.title)}</h3>\n"
        f'<p class="what">{_e(step.what)}</p>\n{pairs}\n</section>'
    )


def _column(side: str, column: Column) -> str:
    heading = f'<h4><span class="who">{_e(column.who)}</span> {_e(column.where)}</h4>'
    note = f'<p class="note">{_e(column.note)}</p>' if column.note else ""
    code = f"<pre><code>{_lines(column.source)}</code></pre>" if column.source else ""
    return f'<div class="col {side} {column.kind}">{heading}{note}{code}</div>'


def _lines(source: Source) -> str:
    """One grid row per source line: its number, then the line, which may wrap."""
    rows = []
    for i, line in enumerate(source.text.splitlines()):
        indent = len(line) - len(line.lstrip(" "))
        style = f' style="--n:{indent}"' if indent else ""
        rows.append(
            f'<span class="l"{style}><span class="ln">{source.first_line + i}</span>'
            f'<span class="c">{_e(line)}</span></span>'
        )
    return "".join(rows)


def _e(text: str) -> str:
    return html.escape(text, quote=True)
