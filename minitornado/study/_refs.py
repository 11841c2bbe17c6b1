"""From a ``path::qualname`` reference to the code object that runs when it is called.

Ours alone: Tornado has nothing like it. ``minitornado.study.trace`` and the call-order test in
tests/test_tour.py watch the calls of a running server with a profile hook
(``sys.setprofile``), which sees frames, and a frame says which code it runs. So both turn
the references of ``STUDY_PATH`` into code objects here, and compare codes by identity: that
works on Python 3.10, which has no ``co_qualname``, and cannot confuse two methods of the
same name.

A reference has the form of the ``# Tornado:`` markers: ``minitornado/web.py::Application.listen``,
``asyncio/selector_events.py::BaseSelectorEventLoop.add_reader``. A function defined inside
another is reached through ``<locals>``, as in its ``__qualname__``:
``minitornado/netutil.py::add_accept_handler.<locals>.accept_handler``. A path with no
directory (``demo_app.py``) names an app's own file: it is looked for among the modules
already loaded (``__main__`` too, for ``python demo_app.py``), never imported, and a name it
does not define (yet: the file may still be running its top level) is not an error.

>>> code_of("minitornado/tcpserver.py::TCPServer.listen").co_name
'listen'
>>> code_of("minitornado/netutil.py::add_accept_handler.<locals>.accept_handler").co_name
'accept_handler'

Study path: none; it finds the code of every step.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from types import CodeType, ModuleType


def code_of(ref: str) -> CodeType | None:
    """The code object ``ref`` names; None if it is in an app file not loaded (yet).

    Raises ``LookupError`` for a reference that names nothing (a stale one).
    """
    path, sep, qualname = ref.partition("::")
    if not sep or not path.endswith(".py") or not qualname:
        raise LookupError(f"not a path::qualname reference: {ref!r}")
    module = _module(path)
    if module is None:
        return None
    target: object = module
    parts = qualname.split(".")
    while parts:
        part = parts.pop(0)
        if part == "<locals>":
            return _nested(_code(target, ref), parts, ref)
        try:
            target = getattr(target, part)
        except AttributeError:
            if "/" not in path:
                return None  # an app file still being run: its definitions come later
            raise LookupError(f"{ref}: {part!r} not found") from None
    return _code(target, ref)


def _module(path: str) -> ModuleType | None:
    name = path.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
    if "/" in path:
        return importlib.import_module(name)  # a package's module: importing it is harmless
    # An app's file: the module already loaded from it, under its name or as __main__.
    for module in (sys.modules.get(name), sys.modules.get("__main__")):
        file = getattr(module, "__file__", None)
        if file is not None and os.path.basename(file) == path:
            return module
    return None


def _code(target: object, ref: str) -> CodeType:
    if isinstance(target, property) and target.fget is not None:
        target = target.fget
    function = inspect.unwrap(getattr(target, "__func__", target))  # type: ignore[arg-type]
    code = getattr(function, "__code__", None)
    if not isinstance(code, CodeType):
        raise LookupError(f"{ref}: not a Python function")
    return code


def _nested(code: CodeType, parts: list[str], ref: str) -> CodeType:
    # A nested function's code is a constant of the code around it; each "<locals>" is one
    # more level down.
    for part in (p for p in parts if p != "<locals>"):
        found = [c for c in code.co_consts if isinstance(c, CodeType) and c.co_name == part]
        if not found:
            raise LookupError(f"{ref}: no function {part!r} inside {code.co_name}")
        code = found[0]
    return code
