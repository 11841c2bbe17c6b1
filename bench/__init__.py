"""The benchmark: minitornado against Tornado, side by side, in one run on one machine.

``python -m bench`` runs it (see ``bench/run.py`` for the options, README "Benchmark" for
the latest results). The modules:

- ``run.py``: the command line and the rounds (A B A B ...), each server in its own process;
- ``measure.py``: how one server is measured (pinning, load, CPU and memory from /proc);
- ``loadgen.py``: the built-in asyncio load generator, used when ``wrk`` is not installed;
- ``hello_server.py``: the app both servers run;
- ``report.py``: medians, ratios, targets, tables.

``OPTIMISATIONS.md`` records what each optimisation of minitornado's hot path bought.
"""
