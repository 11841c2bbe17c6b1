"""The three loggers of minitornado/log.py, against Tornado's."""

from __future__ import annotations

import tornado.log

import minitornado.log


def test_loggers_are_named_minitornado_unlike_tornado() -> None:
    # Scenario: "Differs on purpose" in log.py. Each logger has Tornado's role and the last
    # part of its name, under "minitornado." where Tornado's are under "tornado.", so a
    # process running both can tell their lines apart and configure them separately.
    for name in ("access_log", "app_log", "gen_log"):
        ours = getattr(minitornado.log, name).name
        theirs = getattr(tornado.log, name).name
        assert theirs.startswith("tornado.")
        assert ours == "minitornado." + theirs.removeprefix("tornado.")
