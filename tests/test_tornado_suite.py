"""Tornado's own tests, run against minitornado with its names swapped in.

Which tests: the classes ``TORNADO_TESTS_RUN`` lists, from tornado/test/web_test.py
(signed cookies, cookies, ``clear_all_cookies``, headers, errors, redirects, routing by host,
streaming bodies, ...), httpserver_test.py, httputil_test.py and routing_test.py, and
``TestIOLoop.test_explicit_asyncio_loop`` from ioloop_test.py, exactly as the installed
Tornado 6.6.1 ships them. ``LEFT_OUT`` skips, with the reason, the tests of those classes that
use a feature minitornado leaves out.

How the swap works: ``load_tornado_tests`` reads the test file from the installed package
(nothing of it is copied here), takes the named classes with ``ast`` (for a class given with
method names, only those test methods) and, recursively, the file's top-level definitions
they use (``CookieTestRequestHandler``, ``WebTestCase``, ...). It executes them, under
Tornado's file name and line numbers, in a namespace where every name the file imports is
bound by one rule:

- imported from a Tornado module that minitornado also has (``tornado.web``,
  ``tornado.escape``, ``tornado.log``, ``tornado.ioloop``, ...): minitornado's object of that
  name, or, for a private helper we renamed, the definition whose ``# Tornado:`` marker
  names it (``_create_signature_v1`` is ``minitornado._web_signing._signature_v1``). A name
  minitornado has not got fails the collection, naming it;
- imported from Tornado's test tools (``tornado.testing``, ``tornado.test.util``,
  ``tornado.util``) or from a module minitornado has not got (``tornado.httpclient``,
  ``tornado.locks``, ...): Tornado's, with one change: ``AsyncHTTPTestCase`` serves the
  test's application with minitornado's ``HTTPServer``. The client stays Tornado's
  ``AsyncHTTPClient`` (minitornado has none), so the HTTP tests are Tornado's client
  against minitornado's ``Application`` and server;
- any other import (the standard library) is done as written.

``test_every_swappable_name_is_minitornados`` and
``test_tornados_client_talks_to_minitornados_server`` check that the swap took place, so a
passing Tornado test here cannot be Tornado testing itself.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import logging
import re
import unittest
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import tornado.test
import tornado.test.util
import tornado.testing

import minitornado.httpserver
import minitornado.web

ROOT = Path(__file__).resolve().parent.parent
TORNADO_TESTS = Path(tornado.test.__file__).parent
# Tornado's test tools: kept as they are, whatever they import.
TOOL_MODULES = ("tornado.testing", "tornado.test.util", "tornado.util")


# ---- The swap -----------------------------------------------------------------------------


class MinitornadoServedTestCase(tornado.test.util.AsyncHTTPTestCase):
    """Tornado's ``AsyncHTTPTestCase`` (its loop, its client, its log check), but the
    application it serves is served by minitornado's ``HTTPServer``."""

    def get_http_server(self) -> Any:
        return minitornado.httpserver.HTTPServer(self._app, **self.get_httpserver_options())


def renamed_by_marker(tornado_module: str, name: str) -> Any:
    """The minitornado definition whose ``# Tornado: tornado/<module>.py::<name>`` marker
    names Tornado's ``name``, or None."""
    marker = f"# Tornado: tornado/{tornado_module.replace('.', '/')}.py::{name}"
    definition = re.compile(r"\s*(?:def|class)\s+(\w+)|\s*(\w+)\s*[:=]")
    for path in sorted((ROOT / "minitornado").glob("*.py")):
        lines = path.read_text().splitlines()
        for number, line in enumerate(lines):
            if line.strip().split("  ")[0] != marker:
                continue
            following = next(x for x in lines[number + 1 :] if not x.strip().startswith("#"))
            found = definition.match(following)
            if found:
                module = importlib.import_module(f"minitornado.{path.stem}")
                return getattr(module, found[1] or found[2])
    return None


def swapped(module: str, name: str) -> Any:
    """What a test file's ``from <module> import <name>`` is bound to here (see above)."""
    if name == "AsyncHTTPTestCase":
        return MinitornadoServedTestCase
    if module == "tornado":  # from tornado import netutil: a module
        return importlib.import_module(
            ("minitornado." if _is_ours(f"minitornado.{name}") else "tornado.") + name
        )
    ours = "mini" + module
    if module in TOOL_MODULES or not _is_ours(ours):
        return getattr(importlib.import_module(module), name)
    value = getattr(importlib.import_module(ours), name, None)
    if value is None:
        value = renamed_by_marker(module.removeprefix("tornado."), name)
    if value is None:
        raise LookupError(f"{module}.{name}: {ours} has no {name}")
    return value


def _is_ours(module: str) -> bool:
    """Whether ``module`` (``minitornado.x``) exists; ``minitornado.platform.x`` does not."""
    return module.startswith("minitornado.") and (ROOT / f"{module.replace('.', '/')}.py").exists()


def load_tornado_tests(filename: str, wanted: dict[str, tuple[str, ...] | None]) -> dict[str, Any]:
    """The namespace in which the classes ``wanted`` of tornado/test/<filename> were defined,
    with minitornado's names.

    ``wanted`` maps a class name to the test methods to keep (None: all of them).
    """
    path = TORNADO_TESTS / filename
    tree = ast.parse(path.read_text(), filename=str(path))
    imports: dict[str, tuple[str, str]] = {}  # bound name -> (module, its name there)
    definitions: dict[str, ast.stmt] = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                imports[alias.asname or alias.name] = (node.module, alias.name)
        elif isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            definitions[node.name] = node
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):  # Name = _get_named_handler(...)
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    definitions[target.id] = node
    # Plain imports (asyncio, re, ...) run as written; the file's "import tornado..." lines
    # are dropped, so a kept test that reached Tornado through one would fail on its name.
    chosen: list[ast.stmt] = [
        node
        for node in tree.body
        if isinstance(node, ast.Import)
        and not any(alias.name.startswith("tornado") for alias in node.names)
    ]
    namespace: dict[str, Any] = {"__name__": __name__}

    taken: set[str] = set()

    def take(name: str) -> None:
        if name in taken:
            return
        taken.add(name)
        if name in imports:
            namespace[name] = swapped(*imports[name])
        elif name in definitions and definitions[name] not in chosen:
            node = definitions[name]
            keep = wanted.get(name)
            if isinstance(node, ast.ClassDef) and keep is not None:
                node.body = [
                    s for s in node.body
                    if not (isinstance(s, ast.FunctionDef) and s.name.startswith("test"))
                    or s.name in keep
                ]  # fmt: skip
            chosen.append(node)
            for used in ast.walk(node):
                if isinstance(used, ast.Name):
                    take(used.id)
        # Any other name is a builtin or local to a function. (A name the file defines
        # wins over a builtin: web_test.py has a PermissionError of its own.)

    for name in wanted:
        take(name)
    chosen.sort(key=lambda node: node.lineno)  # the file's order: bases before subclasses
    exec(compile(ast.Module(body=chosen, type_ignores=[]), str(path), "exec"), namespace)
    return namespace


# The classes run, by file: every test class of these files whose tests all pass on
# minitornado, and two classes without the tests LEFT_OUT names. Each class not listed
# stops at a left-out feature, most of them loudly at build time (templates, static files,
# XSRF, cross-origin protection, gzip, locale, dotted-string targets, HTTP1Connection's
# client side, TLS while it is in progress), or meets a declared difference (431 and 413
# answers). README.md, "What runs unchanged", lists both.
TORNADO_TESTS_RUN: dict[str, tuple[str, ...]] = {
    "web_test.py": (
        "SecureCookieV1Test", "SecureCookieV2Test", "CookieTest", "ConnectionCloseTest",
        "RequestEncodingTest", "NonWSGIWebTests", "ErrorResponseTest", "CancellationTest",
        "HostMatchingTest", "DefaultHostMatchingTest", "NamedURLSpecGroupsTest",
        "ClearHeaderTest", "Header204Test", "Header204viaHTTPErrorTest", "Header304Test",
        "StatusReasonTest", "DateHeaderTest", "RaiseWithReasonTest", "PathArgsInPrepareTest",
        "ClearAllCookiesTest", "ExceptionHandlerTest", "BuggyLoggingTest",
        "GetArgumentErrorTest", "SetLazyPropertiesTest", "UnimplementedHTTPMethodsTest",
        "UnimplementedNonStandardMethodsTest", "AllHTTPMethodsTest", "PatchMethodTest",
        "FinishInPrepareTest", "Default404Test", "Custom404Test",
        "DefaultHandlerArgumentsTest", "StreamingRequestBodyTest",
        "IncorrectContentLengthTest", "ClientCloseTest", "SignedValueTest",
        "CrossOriginProtectionDisabledTest", "FinishExceptionTest", "DecoratorTest",
        "CacheTest", "RequestSummaryTest", "HTTPErrorTest", "ApplicationTest",
        "URLSpecReverseTest", "RedirectHandlerTest",
    ),
    "httpserver_test.py": (
        "HTTPServerTest", "XHeaderTest", "ManualProtocolTest",
        "UnixSocketTestFile", "UnixSocketTestAbstract", "KeepAliveTest", "GzipBaseTest",
        "GzipUnsupportedTest", "InvalidOutputContentLengthTest", "IdleTimeoutTest",
        "LegacyInterfaceTest",
    ),
    "httputil_test.py": (
        "TestUrlConcat", "QsParseTest", "UrlEncodedDataTest", "HTTPHeadersTest",
        "FormatTimestampTest", "ParseRequestStartLineTest", "ParseCookieTest",
    ),
    "routing_test.py": (
        "BasicRouterTestCase", "HTTPMethodRouterTestCase", "CustomRouterTestCase",
    ),
    "escape_test.py": ("EscapeTestCase",),
}  # fmt: skip

# Tests of a class above that use what minitornado leaves out: skipped, saying what.
LEFT_OUT = {
    "CookieTest.test_set_cookie_deprecated": "set_cookie's deprecated capitalised keywords",
    "CookieTest.test_set_cookie_forbidden_char": "set_cookie's deprecated capitalised keywords",
    "EscapeTestCase.test_linkify": "escape.linkify",
    "EscapeTestCase.test_memory_budget": "escape.linkify (one of the functions it measures)",
}

NAMESPACES = {
    filename: load_tornado_tests(filename, dict.fromkeys(names))
    for filename, names in TORNADO_TESTS_RUN.items()
}
NAMESPACES["ioloop_test.py"] = load_tornado_tests(
    "ioloop_test.py", {"TestIOLoop": ("test_explicit_asyncio_loop",)}
)
for _filename, _namespace in NAMESPACES.items():
    for _name in TORNADO_TESTS_RUN.get(_filename, ("TestIOLoop",)):
        assert _name not in globals(), f"two Tornado test classes named {_name}"
        globals()[_name] = _namespace[_name]
for _test, _why in LEFT_OUT.items():
    _class, _method = _test.split(".")
    setattr(globals()[_class], _method, unittest.skip(f"left out: {_why}")(lambda self: None))
WEB, IOLOOP = NAMESPACES["web_test.py"], NAMESPACES["ioloop_test.py"]


@pytest.fixture(autouse=True)
def quiet_access_log() -> Iterator[None]:
    """As Tornado's test runner (tornado/test/runtests.py) silences ``tornado.access``: its
    ``TestCase`` fails a test that logs anything unexpected, and a served request logs."""
    access = logging.getLogger("minitornado.access")
    level = access.level
    access.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        access.setLevel(level)


# ---- The swap took place ------------------------------------------------------------------


def test_every_swappable_name_is_minitornados() -> None:
    # Scenario: in the namespaces the Tornado tests run in, no object comes from a Tornado
    # module that minitornado also has; every HTTP test case serves with minitornado's
    # HTTPServer (AsyncHTTPSTestCase, Tornado's own server over TLS, is refused); the
    # handler base class and IOLoop are minitornado's.
    for loaded in NAMESPACES.values():
        for name, value in loaded.items():
            module = value.__name__ if isinstance(value, ModuleType) else ""
            module = module or getattr(value, "__module__", None) or ""
            if module.startswith("tornado.") and module not in TOOL_MODULES:
                assert not _is_ours("mini" + module), (name, module)
    for loaded in NAMESPACES.values():
        for value in loaded.values():
            if isinstance(value, type) and issubclass(value, tornado.testing.AsyncHTTPTestCase):
                assert issubclass(value, MinitornadoServedTestCase), value
    assert WEB["RequestHandler"] is minitornado.web.RequestHandler
    assert WEB["Application"] is minitornado.web.Application
    assert IOLOOP["IOLoop"] is minitornado.ioloop.IOLoop


def test_tornados_client_talks_to_minitornados_server() -> None:
    # Scenario: ClearAllCookiesTest's machinery, run once more with a probe as its test:
    # the application and the server are minitornado's, and the answer to Tornado's
    # client says "Server: minitornado/...".
    class Probe(WEB["ClearAllCookiesTest"]):  # type: ignore[misc]
        def runTest(self) -> None:
            assert isinstance(self._app, minitornado.web.Application)
            assert isinstance(self.http_server, minitornado.httpserver.HTTPServer)
            response = self.fetch("/", headers={"Cookie": "a=1"})
            assert response.headers["Server"].startswith("minitornado/")
            assert response.headers.get_list("Set-Cookie")[0].startswith('a="";')

    result = unittest.TestResult()
    Probe().run(result)
    assert result.wasSuccessful(), result.errors + result.failures
