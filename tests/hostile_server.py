"""A small HTTP server in a process of its own, for the fault tests that need one.

    python tests/hostile_server.py --impl minitornado|tornado [--idle-timeout S] [--nofile N]
                                   [--certfile F --keyfile F]

The first line on stdout is ``PORT <n>`` (a free port on 127.0.0.1). Log records go to
stderr, one per line: ``LEVEL logger message``. It serves until killed. With ``--certfile``
it serves HTTPS (Tornado's ``ssl_options`` dict).

Routes: ``/`` answers ``ok``; ``/slow?seconds=S`` answers after an ``await asyncio.sleep``;
``/stats`` answers JSON about the process: ``fds`` (open descriptors, from /proc/self/fd),
``rss_kib``, ``cpu_seconds`` and ``live`` (how many HTTP1ServerConnection, HTTP1Connection,
IOStream and RequestHandler objects exist, counted with the garbage collector after a
collection), ``connections`` (the server's own set of open connections) and ``tasks`` (the
asyncio tasks of its loop).

A separate process gives the tests what they measure without their own clients mixed in
(descriptors, memory, CPU time), and lets ``--nofile`` lower ``RLIMIT_NOFILE`` for it alone.
The tests start it with ``ServerProcess`` (tests/support.py), which also reads its figures
from /proc. It is only ever run as a script, never imported.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import json
import logging
import os
import resource
import sys
from typing import Any

LIVE_TYPES = ("HTTP1ServerConnection", "HTTP1Connection", "IOStream", "RequestHandler")


def live_objects(web: Any) -> dict[str, int]:
    """How many objects of each of LIVE_TYPES exist now (after a full collection)."""
    gc.collect()
    counts = dict.fromkeys(LIVE_TYPES, 0)
    for obj in gc.get_objects():
        cls = type(obj)
        if isinstance(obj, web.RequestHandler):
            counts["RequestHandler"] += 1
        elif cls.__name__ in counts:
            counts[cls.__name__] += 1
    return counts


def process_stats() -> dict[str, Any]:
    with open("/proc/self/status") as status:
        rss = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    times = os.times()
    return {
        "fds": len(os.listdir("/proc/self/fd")) - 1,  # less the one listdir itself opened
        "rss_kib": rss,
        "cpu_seconds": times.user + times.system,
    }


def make_app(web: Any, server: list[Any]) -> Any:
    class Hello(web.RequestHandler):  # type: ignore[misc]
        def get(self) -> None:
            self.write("ok")

    class Slow(web.RequestHandler):  # type: ignore[misc]
        async def get(self) -> None:
            await asyncio.sleep(float(self.get_argument("seconds", "0.5")))
            self.write("done")

    class Stats(web.RequestHandler):  # type: ignore[misc]
        def get(self) -> None:
            stats = process_stats()
            stats["live"] = live_objects(web)
            stats["connections"] = len(server[0]._connections)
            stats["tasks"] = len(asyncio.all_tasks())
            self.write(json.dumps(stats))

    return web.Application([("/", Hello), ("/slow", Slow), ("/stats", Stats)])


async def main(args: argparse.Namespace) -> None:
    web = importlib.import_module(f"{args.impl}.web")
    httpserver = importlib.import_module(f"{args.impl}.httpserver")
    netutil = importlib.import_module(f"{args.impl}.netutil")
    holder: list[Any] = []
    tls = {"certfile": args.certfile, "keyfile": args.keyfile} if args.certfile else None
    server = httpserver.HTTPServer(
        make_app(web, holder), idle_connection_timeout=args.idle_timeout, ssl_options=tls
    )
    holder.append(server)
    sockets = netutil.bind_sockets(0, "127.0.0.1")
    server.add_sockets(sockets)
    if args.nofile:
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (args.nofile, hard))
    print(f"PORT {sockets[0].getsockname()[1]}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--impl", choices=("minitornado", "tornado"), default="minitornado")
    parser.add_argument("--idle-timeout", type=float, default=None)
    parser.add_argument("--nofile", type=int, default=0)
    parser.add_argument("--certfile")
    parser.add_argument("--keyfile")
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, format="%(levelname)s %(name)s %(message)s"
    )
    asyncio.run(main(parser.parse_args()))
