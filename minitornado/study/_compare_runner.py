"""Serve an app module written for Tornado, under Tornado or under minitornado.

    python -m minitornado.study._compare_runner --app myapp.py[:make_app] --impl minitornado

``minitornado.study.compare --app`` starts this runner twice, once per implementation. The app
module is written against Tornado's API (``import tornado.web``) and is the same file on
both sides: under ``--impl minitornado`` an import alias is installed first, so that
``tornado`` and every ``tornado.X`` resolve to ``minitornado`` and ``minitornado.X`` (the
very same module objects, not copies). Then the module is imported, its factory (default
``make_app``) is called with no arguments and must return an ``Application``, and the
runner serves it on ``--address`` and ``--port`` (0 picks a free port). The first line on
stdout is the one ``demo_app.py`` prints::

    Listening on http://127.0.0.1:40123/ (impl=minitornado, start=asyncio)

SIGTERM or SIGINT stops the listener, closes the connections and exits 0. An app that does
not load exits 1 after printing its error on stderr, with only the app's own frames in the
traceback (this runner's and the import machinery's are left out); so does a port already
in use, in one line.

Mirrors: nothing in Tornado (a tool of ours). It serves the way Tornado's documentation
does (``asyncio.run`` and an ``HTTPServer``), but binds the sockets itself
(``netutil.bind_sockets`` + ``add_sockets``, steps 4 and 5) to learn the port.

Kept: only what ``compare`` needs.
Left out: TLS, several processes, any server option (the app gets ``HTTPServer``'s defaults).

Study path: steps 2 to 9, through ``HTTPServer``, ``bind_sockets`` and ``add_sockets``.
"""

import argparse
import asyncio
import errno
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import signal
import socket
import sys
import traceback
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any

IMPLS = ("minitornado", "tornado")


# ---- The import alias: tornado.X is minitornado.X -------------------------------------------


class TornadoAlias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Answer ``import tornado.X`` with the already imported module ``minitornado.X``.

    A name minitornado does not have (``tornado.gen``, say) fails with a
    ``ModuleNotFoundError`` that says so: the real Tornado is never imported behind it.
    """

    def __init__(self) -> None:
        # The import system overwrites ``__spec__`` of whatever create_module returns;
        # the real one is kept here and put back in exec_module.
        self._real_specs: dict[str, importlib.machinery.ModuleSpec | None] = {}

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "tornado" and not fullname.startswith("tornado."):
            return None
        real_name = "mini" + fullname
        if importlib.util.find_spec(real_name) is None:
            raise ModuleNotFoundError(
                f"No module named {fullname!r}: minitornado has no {real_name} "
                "(the compare runner maps tornado.X to minitornado.X)",
                name=fullname,
            )
        return importlib.util.spec_from_loader(fullname, self, is_package=fullname == "tornado")

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        module = importlib.import_module("mini" + spec.name)
        self._real_specs[spec.name] = module.__spec__
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        # Nothing to run (the module ran when minitornado imported it): only undo the
        # import system's relabelling, so that minitornado.X still says who it is.
        assert module.__spec__ is not None
        module.__spec__ = self._real_specs.pop(module.__spec__.name)


def install_tornado_alias() -> None:
    """Make ``tornado`` mean ``minitornado`` in this process, before anything imports it."""
    if "tornado" in sys.modules and sys.modules["tornado"].__name__ == "tornado":
        raise RuntimeError("the real tornado is imported already: the alias would come too late")
    sys.meta_path.insert(0, TornadoAlias())


# ---- Loading the app ------------------------------------------------------------------------


class AppError(Exception):
    """The app named on the command line cannot be found where it was said to be."""


def load_app(spec: str) -> Any:
    """Import ``module[:factory]`` (a module name or a ``.py`` path) and call the factory."""
    target, _, factory_name = spec.partition(":")
    factory_name = factory_name or "make_app"
    if target.endswith(".py") or "/" in target:
        path = Path(target).resolve()
        if not path.is_file():
            raise AppError(f"--app {spec}: no such file: {path}")
        # Its neighbours become importable, as they are for ``python path/app.py``.
        sys.path.insert(0, str(path.parent))
        module_spec = importlib.util.spec_from_file_location(path.stem, path)
        if module_spec is None or module_spec.loader is None:
            raise AppError(f"--app {spec}: cannot load an app module from {path}")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[path.stem] = module
        module_spec.loader.exec_module(module)
    else:
        module = importlib.import_module(target)
    if not callable(getattr(module, factory_name, None)):
        hint = "" if spec.partition(":")[2] else f" (name yours after a colon: {target}:build)"
        raise AppError(f"--app {spec}: {target} has no function {factory_name}(){hint}")
    return getattr(module, factory_name)()


def app_traceback(error: BaseException) -> str:
    """``error``'s traceback, with only the app's frames (none of this file, nor ``<frozen``)."""
    summary = traceback.TracebackException.from_exception(error)
    chain: list[traceback.TracebackException | None] = [summary]
    while chain:
        link = chain.pop()
        if link is not None:
            link.stack = traceback.StackSummary.from_list(
                [f for f in link.stack if f.filename != __file__ and "<frozen" not in f.filename]
            )
            chain += [link.__cause__, link.__context__]
    return "".join(summary.format())


def bind(impl: str, address: str, port: int) -> list[socket.socket]:
    """``impl``'s ``netutil.bind_sockets``; a port in use exits with one line naming it."""
    netutil = importlib.import_module(f"{impl}.netutil")
    try:
        sockets: list[socket.socket] = netutil.bind_sockets(port, address)
    except OSError as error:
        if error.errno != errno.EADDRINUSE:
            raise
        sys.exit(f"port {port} on {address} is already in use: pick another with --port")
    return sockets


# ---- Serving --------------------------------------------------------------------------------


async def serve(app: Any, impl: str, sockets: list[socket.socket]) -> None:
    """Serve ``app`` on ``sockets`` with ``impl``'s HTTPServer until SIGTERM or SIGINT."""
    httpserver = importlib.import_module(f"{impl}.httpserver")
    server = httpserver.HTTPServer(app)
    server.add_sockets(sockets)
    address, bound_port = sockets[0].getsockname()[:2]
    print(f"Listening on http://{address}:{bound_port}/ (impl={impl}, start=asyncio)", flush=True)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    await stopping.wait()
    server.stop()
    await server.close_all_connections()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve a Tornado app module for compare.")
    parser.add_argument("--app", required=True, help="module[:factory] or path.py[:factory]")
    parser.add_argument("--impl", choices=IMPLS, default="minitornado")
    parser.add_argument("--address", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    if args.impl == "minitornado":
        install_tornado_alias()
    try:
        app = load_app(args.app)
    except AppError as error:
        print(error, file=sys.stderr)
        return 1
    except Exception as error:  # the app's own code failed: show its part of the traceback
        print(app_traceback(error), end="", file=sys.stderr)
        return 1
    asyncio.run(serve(app, args.impl, bind(args.impl, args.address, args.port)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
