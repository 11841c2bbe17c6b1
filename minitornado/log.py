"""The three loggers every minitornado module writes to.

Mirrors: tornado/log.py (Tornado 6.6)

Kept: the three module-level loggers and what goes to each: ``access_log`` gets one line per
finished request, ``app_log`` gets errors from application code (handlers, callbacks),
``gen_log`` gets everything else (malformed input, connection trouble).

Left out: ``enable_pretty_logging``, ``LogFormatter`` and ``define_logging_options``
(Tornado's colour formatter and command-line options). Configure the loggers with the
standard ``logging`` module instead.

Study path: no step of its own; ``access_log`` gets its line at step 17, when
``RequestHandler.finish`` calls ``Application.log_request``.

Compared with Tornado:
    Differs on purpose: the logger names say ``minitornado.*`` instead of ``tornado.*``, so
    the two can be told apart when both run in one process (as the comparison tests do).
    The messages themselves say what Tornado's say.
"""

import logging

# Tornado: tornado/log.py::access_log
access_log = logging.getLogger("minitornado.access")
# Tornado: tornado/log.py::app_log
app_log = logging.getLogger("minitornado.application")
# Tornado: tornado/log.py::gen_log
gen_log = logging.getLogger("minitornado.general")
