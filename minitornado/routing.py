"""Routing: from a parsed request to the object that will answer it.

Mirrors: tornado/routing.py (Tornado 6.6)

A ``Router`` is an ``HTTPServerConnectionDelegate``: ``HTTPServer`` calls its
``start_request`` for every request, and gets back a ``_RoutingDelegate``. When the headers
arrive, that delegate builds the ``HTTPServerRequest`` and asks the router's ``find_handler``
for the ``HTTPMessageDelegate`` that will receive the body and answer. ``RuleRouter`` answers
with the first of its ``Rule`` objects whose ``Matcher`` accepts the request; a rule's target
may be another router (rules nest), an ``HTTPServerConnectionDelegate`` or a plain callable.
``web.Application`` is such a router, and adds ``RequestHandler`` classes as targets.

Kept: ``Router``, ``ReversibleRouter``, ``RuleRouter``, ``ReversibleRuleRouter``, ``Rule``,
``Matcher``, ``AnyMatches``, ``HostMatches``, ``DefaultHostMatches``, ``PathMatches``,
``URLSpec``; rules given as ``Rule`` objects or as tuples; patterns anchored at the end; path
groups unquoted to bytes after matching; ``reverse_url``.

Left out: a ``Rule`` target given as a dotted string (Tornado imports it with
``util.import_object``); ``Rule`` refuses one with ``NotImplementedError``: pass the object.

Study path (numbers from ``minitornado/__init__.py``): step 15, ``RuleRouter.find_handler``
and ``PathMatches.match``, reached from ``web.Application.find_handler``.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Awaitable, Sequence
from functools import partial
from typing import Any

from minitornado import httputil
from minitornado.httpserver import _CallableAdapter
from minitornado.log import app_log

# A rule as the user may write it: a Rule, or a tuple/list of Rule's arguments, whose first
# item may be a pattern string standing for PathMatches(pattern).
_RuleList = Sequence[Any]


# Tornado: tornado/routing.py::Router
class Router(httputil.HTTPServerConnectionDelegate):
    """Something that picks, for each request, the ``HTTPMessageDelegate`` that answers it.

    Subclasses implement ``find_handler``. Pass a router to ``HTTPServer`` directly: its
    ``start_request`` does the rest.
    """

    # Tornado: tornado/routing.py::Router.find_handler
    def find_handler(
        self, request: httputil.HTTPServerRequest, **kwargs: Any
    ) -> httputil.HTTPMessageDelegate | None:
        """Return the delegate for ``request``, or ``None`` if this router has none.

        ``kwargs`` are extra parameters a parent router passes down (a matcher's results).
        """
        raise NotImplementedError()

    # Tornado: tornado/routing.py::Router.start_request
    def start_request(
        self, server_conn: object, request_conn: httputil.HTTPConnection
    ) -> httputil.HTTPMessageDelegate:
        """Called by the connection for each request: routing waits for the headers."""
        return _RoutingDelegate(self, server_conn, request_conn)


# Tornado: tornado/routing.py::ReversibleRouter
class ReversibleRouter(Router):
    """A router whose named routes can be turned back into URLs."""

    # Tornado: tornado/routing.py::ReversibleRouter.reverse_url
    def reverse_url(self, name: str, *args: Any) -> str | None:
        """The URL of the route called ``name`` with ``args`` filled in, or ``None``."""
        raise NotImplementedError()


# Tornado: tornado/routing.py::_RoutingDelegate
class _RoutingDelegate(httputil.HTTPMessageDelegate):
    """Stands in for the real delegate until the headers say which one that is.

    Once ``headers_received`` has routed the request, every later event is passed on.
    """

    def __init__(
        self, router: Router, server_conn: object, request_conn: httputil.HTTPConnection
    ) -> None:
        self.router = router
        self.server_conn = server_conn
        self.request_conn = request_conn
        self.delegate: httputil.HTTPMessageDelegate | None = None

    # Tornado: tornado/routing.py::_RoutingDelegate.headers_received   (study path, step 15)
    def headers_received(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
    ) -> Awaitable[None] | None:
        """Called by the connection: build the request, route it, pass the headers on.

        ``HTTPServerRequest`` raises ``HTTPInputError`` on a bad Host or query string; the
        connection turns that into a bare 400.
        """
        assert isinstance(start_line, httputil.RequestStartLine)
        request = httputil.HTTPServerRequest(
            connection=self.request_conn,
            server_connection=self.server_conn,
            start_line=start_line,
            headers=headers,
        )
        self.delegate = self.router.find_handler(request)
        if self.delegate is None:
            app_log.debug(
                "Delegate for %s %s request not found", start_line.method, start_line.path
            )
            self.delegate = _DefaultMessageDelegate(self.request_conn)
        return self.delegate.headers_received(start_line, headers)

    # Tornado: tornado/routing.py::_RoutingDelegate.data_received
    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        assert self.delegate is not None
        return self.delegate.data_received(chunk)

    # Tornado: tornado/routing.py::_RoutingDelegate.finish
    def finish(self) -> None:
        assert self.delegate is not None
        self.delegate.finish()

    # Tornado: tornado/routing.py::_RoutingDelegate.on_connection_close
    def on_connection_close(self) -> None:
        if self.delegate is not None:
            self.delegate.on_connection_close()


# Tornado: tornado/routing.py::_DefaultMessageDelegate
class _DefaultMessageDelegate(httputil.HTTPMessageDelegate):
    """The answer when no rule matched: a bare ``404 Not Found`` with no headers or body.

    ``web.Application`` never gets here: it answers unmatched requests with its own 404 page.
    """

    def __init__(self, connection: httputil.HTTPConnection) -> None:
        self.connection = connection

    # Tornado: tornado/routing.py::_DefaultMessageDelegate.finish
    def finish(self) -> None:
        self.connection.write_headers(
            httputil.ResponseStartLine("HTTP/1.1", 404, "Not Found"), httputil.HTTPHeaders()
        )
        self.connection.finish()


# ---- Rule routers ---------------------------------------------------------------------------


# Tornado: tornado/routing.py::RuleRouter
class RuleRouter(Router):
    """A router that tries its rules in order; the first that matches and yields a delegate wins.

    ``rules`` items are ``Rule`` objects or tuples of ``Rule``'s arguments,
    ``(matcher, target[, target_kwargs[, name]])``, where a string matcher means
    ``PathMatches(string)``. A target may be a ``Router`` (asked in turn), an
    ``HTTPServerConnectionDelegate`` (its ``start_request`` is called), or a callable taking
    the ``HTTPServerRequest`` (called once the body is in).
    """

    # Tornado: tornado/routing.py::RuleRouter.__init__
    def __init__(self, rules: _RuleList | None = None) -> None:
        self.rules: list[Rule] = []
        if rules:
            self.add_rules(rules)

    # Tornado: tornado/routing.py::RuleRouter.add_rules
    def add_rules(self, rules: _RuleList) -> None:
        """Append rules, turning tuples into ``Rule`` objects and passing each to
        ``process_rule``."""
        for rule in rules:
            if isinstance(rule, (tuple, list)):
                assert len(rule) in (2, 3, 4), f"a rule has 2 to 4 items, not {rule!r}"
                if isinstance(rule[0], str):
                    rule = Rule(PathMatches(rule[0]), *rule[1:])
                else:
                    rule = Rule(*rule)
            self.rules.append(self.process_rule(rule))

    # Tornado: tornado/routing.py::RuleRouter.process_rule
    def process_rule(self, rule: Rule) -> Rule:
        """Override point: adjust or replace each rule as it is added."""
        return rule

    # Tornado: tornado/routing.py::RuleRouter.find_handler          (study path, step 15)
    def find_handler(
        self, request: httputil.HTTPServerRequest, **kwargs: Any
    ) -> httputil.HTTPMessageDelegate | None:
        for rule in self.rules:
            target_params = rule.matcher.match(request)
            if target_params is None:
                continue
            if rule.target_kwargs:
                target_params["target_kwargs"] = rule.target_kwargs
            delegate = self.get_target_delegate(rule.target, request, **target_params)
            # A nested router that has no match lets the search go on with the next rule.
            if delegate is not None:
                return delegate
        return None

    # Tornado: tornado/routing.py::RuleRouter.get_target_delegate
    def get_target_delegate(
        self, target: Any, request: httputil.HTTPServerRequest, **target_params: Any
    ) -> httputil.HTTPMessageDelegate | None:
        """Turn a rule's target into a delegate; override to accept other kinds of target.

        ``target_params`` are what the matcher returned, plus ``target_kwargs``.
        """
        if isinstance(target, Router):
            return target.find_handler(request, **target_params)
        if isinstance(target, httputil.HTTPServerConnectionDelegate):
            assert request.connection is not None
            return target.start_request(request.server_connection, request.connection)
        if callable(target):
            assert request.connection is not None
            return _CallableAdapter(partial(target, **target_params), request.connection)
        return None


# Tornado: tornado/routing.py::ReversibleRuleRouter
class ReversibleRuleRouter(ReversibleRouter, RuleRouter):
    """A ``RuleRouter`` that remembers named rules, for ``reverse_url``."""

    # Tornado: tornado/routing.py::ReversibleRuleRouter.__init__
    def __init__(self, rules: _RuleList | None = None) -> None:
        self.named_rules: dict[str, Rule] = {}
        super().__init__(rules)

    # Tornado: tornado/routing.py::ReversibleRuleRouter.process_rule
    def process_rule(self, rule: Rule) -> Rule:
        rule = super().process_rule(rule)
        if rule.name:
            if rule.name in self.named_rules:
                app_log.warning("Multiple handlers named %s; replacing previous value", rule.name)
            self.named_rules[rule.name] = rule
        return rule

    # Tornado: tornado/routing.py::ReversibleRuleRouter.reverse_url
    def reverse_url(self, name: str, *args: Any) -> str | None:
        """Reverse a rule named here, else ask each nested reversible router in turn."""
        if name in self.named_rules:
            return self.named_rules[name].matcher.reverse(*args)
        for rule in self.rules:
            if isinstance(rule.target, ReversibleRouter):
                url = rule.target.reverse_url(name, *args)
                if url is not None:
                    return url
        return None


# Tornado: tornado/routing.py::Rule
class Rule:
    """One routing rule: a ``Matcher``, a target, keyword arguments for it, an optional name.

    Compared with Tornado:
        Left out: a target given as a dotted import string, which Tornado imports; here
        it raises ``NotImplementedError`` (no router would take it, so every request for
        it would end in a 404).
    """

    # Tornado: tornado/routing.py::Rule.__init__
    def __init__(
        self,
        matcher: Matcher,
        target: Any,
        target_kwargs: dict[str, Any] | None = None,
        name: str | None = None,
    ) -> None:
        if isinstance(target, str):
            raise NotImplementedError(
                f"minitornado leaves out rule targets given as import strings ({target!r}): "
                "import the handler and pass the object itself"
            )
        self.matcher = matcher
        self.target = target
        self.target_kwargs = target_kwargs if target_kwargs else {}
        self.name = name

    # Tornado: tornado/routing.py::Rule.reverse
    def reverse(self, *args: Any) -> str | None:
        return self.matcher.reverse(*args)

    # Tornado: tornado/routing.py::Rule.__repr__
    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.matcher!r}, {self.target}, "
            f"kwargs={self.target_kwargs!r}, name={self.name!r})"
        )


# ---- Matchers -------------------------------------------------------------------------------


# Tornado: tornado/routing.py::Matcher
class Matcher:
    """Decides whether a rule applies to a request."""

    # Tornado: tornado/routing.py::Matcher.match
    def match(self, request: httputil.HTTPServerRequest) -> dict[str, Any] | None:
        """``None`` for no match; else a dict of parameters for the target (``{}`` is a match).

        ``PathMatches`` returns ``path_args`` and ``path_kwargs`` this way.
        """
        raise NotImplementedError()

    # Tornado: tornado/routing.py::Matcher.reverse
    def reverse(self, *args: Any) -> str | None:
        """Rebuild the URL this matcher would accept, or ``None`` if it cannot."""
        return None


# Tornado: tornado/routing.py::AnyMatches
class AnyMatches(Matcher):
    """Matches every request."""

    # Tornado: tornado/routing.py::AnyMatches.match
    def match(self, request: httputil.HTTPServerRequest) -> dict[str, Any] | None:
        return {}


# Tornado: tornado/routing.py::HostMatches
class HostMatches(Matcher):
    """Matches requests whose ``host_name`` (Host without port, lower case) fits a regex.

    A string pattern gets a ``$`` appended if it lacks one, so it must match to the end.
    """

    # Tornado: tornado/routing.py::HostMatches.__init__
    def __init__(self, host_pattern: str | re.Pattern[str]) -> None:
        if isinstance(host_pattern, str):
            if not host_pattern.endswith("$"):
                host_pattern += "$"
            self.host_pattern = re.compile(host_pattern)
        else:
            self.host_pattern = host_pattern

    # Tornado: tornado/routing.py::HostMatches.match
    def match(self, request: httputil.HTTPServerRequest) -> dict[str, Any] | None:
        return {} if self.host_pattern.match(request.host_name) else None


# Tornado: tornado/routing.py::DefaultHostMatches
class DefaultHostMatches(Matcher):
    """Matches when the application's ``default_host`` fits the pattern.

    Used by ``Application.add_handlers`` so a request for an unknown host is served as if it
    were for ``default_host``. Never matches a request with ``X-Real-Ip``: such requests came
    through a proxy, which is expected to have named the host.
    """

    # Tornado: tornado/routing.py::DefaultHostMatches.__init__
    def __init__(self, application: Any, host_pattern: re.Pattern[str]) -> None:
        self.application = application
        self.host_pattern = host_pattern

    # Tornado: tornado/routing.py::DefaultHostMatches.match
    def match(self, request: httputil.HTTPServerRequest) -> dict[str, Any] | None:
        if "X-Real-Ip" not in request.headers and self.host_pattern.match(
            self.application.default_host
        ):
            return {}
        return None


# Tornado: tornado/routing.py::PathMatches
class PathMatches(Matcher):
    """Matches requests whose path (without the query) fits a regex, to the end.

    A string pattern gets a ``$`` appended if it lacks one. The regex runs against the path
    as received, still percent-encoded, so ``/a%2Fb`` does not match ``/a/b``. Captured
    groups are percent-decoded to bytes *after* matching (``+`` stays ``+``) and passed on as
    ``path_args`` (positional groups) or ``path_kwargs`` (named groups); ``RequestHandler``
    decodes them as UTF-8. A pattern may not mix named and positional groups.
    """

    # Tornado: tornado/routing.py::PathMatches.__init__
    def __init__(self, path_pattern: str | re.Pattern[str]) -> None:
        if isinstance(path_pattern, str):
            if not path_pattern.endswith("$"):
                path_pattern += "$"
            self.regex = re.compile(path_pattern)
        else:
            self.regex = path_pattern
        assert len(self.regex.groupindex) in (0, self.regex.groups), (
            f"groups in url regexes must either be all named or all positional: "
            f"{self.regex.pattern!r}"
        )
        self._path, self._group_count = self._find_groups()

    # Tornado: tornado/routing.py::PathMatches.match                (study path, step 15)
    def match(self, request: httputil.HTTPServerRequest) -> dict[str, Any] | None:
        found = self.regex.match(request.path)
        if found is None:
            return None
        if not self.regex.groups:
            return {}
        path_args: list[bytes | None] = []
        path_kwargs: dict[str, bytes | None] = {}
        if self.regex.groupindex:
            path_kwargs = {name: _unquote_or_none(v) for name, v in found.groupdict().items()}
        else:
            path_args = [_unquote_or_none(v) for v in found.groups()]
        return {"path_args": path_args, "path_kwargs": path_kwargs}

    # Tornado: tornado/routing.py::PathMatches.reverse
    def reverse(self, *args: Any) -> str | None:
        """Fill the groups with ``args``: each is turned to str, UTF-8, then percent-quoted
        (``/`` is kept, a space becomes ``%20``). Raises ``ValueError`` for a pattern too
        complex to reverse."""
        if self._path is None:
            raise ValueError("Cannot reverse url regex " + self.regex.pattern)
        assert len(args) == self._group_count, "required number of arguments not found"
        if not args:
            return self._path
        quoted = []
        for arg in args:
            if not isinstance(arg, (str, bytes)):
                arg = str(arg)
            quoted.append(urllib.parse.quote(arg))
        return self._path % tuple(quoted)

    # Tornado: tornado/routing.py::PathMatches._find_groups
    def _find_groups(self) -> tuple[str | None, int | None]:
        """The pattern as a ``%s`` template and its group count, or ``(None, None)``.

        ``/([0-9]{4})/([a-z-]+)/`` gives ``("/%s/%s/", 2)``: the text outside the groups,
        with ``re.escape``'s backslashes removed. Only two things give ``(None, None)``, for
        which ``reverse`` raises ``ValueError``: a ``(`` that opens no capturing group
        (``(?:``, ``\\(``), and a backslash before an ASCII letter or digit outside the
        groups (``\\d``, ``\\1``). Other regex syntax there is copied as if literal
        (``/a+/(x)`` gives ``"/a+/%s"``), and nested groups leave a template with fewer
        ``%s`` than groups, which ``reverse`` fails to fill (``TypeError``).

        Compared with Tornado:
            Same: the template, the two refusals, and the copied syntax.
        """
        pattern = self.regex.pattern
        if pattern.startswith("^"):
            pattern = pattern[1:]
        if pattern.endswith("$"):
            pattern = pattern[:-1]
        if self.regex.groups != pattern.count("("):
            return None, None  # a "(" that opens no capturing group: "(?:", "\("
        pieces = []
        try:
            for fragment in pattern.split("("):
                if ")" in fragment:
                    # "group body)literal": the group becomes %s, the literal stays.
                    literal = fragment[fragment.index(")") + 1 :]
                    pieces.append("%s" + _re_unescape(literal))
                else:
                    pieces.append(_re_unescape(fragment))
        except ValueError:
            return None, None
        return "".join(pieces), self.regex.groups


# Tornado: tornado/routing.py::URLSpec
class URLSpec(Rule):
    """A ``Rule`` with a ``PathMatches`` matcher: ``url(pattern, handler, kwargs, name)``.

    The handler's ``initialize`` receives ``kwargs``; ``name`` is for ``reverse_url``.
    """

    # Tornado: tornado/routing.py::URLSpec.__init__
    def __init__(
        self,
        pattern: str | re.Pattern[str],
        handler: Any,
        kwargs: dict[str, Any] | None = None,
        name: str | None = None,
    ) -> None:
        matcher = PathMatches(pattern)
        super().__init__(matcher, handler, kwargs, name)
        self.regex = matcher.regex
        self.handler_class = self.target
        self.kwargs = kwargs

    # Tornado: tornado/routing.py::URLSpec.__repr__
    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.regex.pattern!r}, {self.handler_class}, "
            f"kwargs={self.kwargs!r}, name={self.name!r})"
        )


# Tornado: tornado/routing.py::_unquote_or_none
def _unquote_or_none(value: str | None) -> bytes | None:
    """Percent-decode a captured group to bytes; an optional group that did not take part
    stays ``None``. Bytes, because the charset is ``RequestHandler.decode_argument``'s call."""
    if value is None:
        return None
    return urllib.parse.unquote_to_bytes(value)


_RE_ESCAPE = re.compile(r"\\(.)", re.DOTALL)


# Tornado: tornado/util.py::re_unescape
def _re_unescape(text: str) -> str:
    """Undo ``re.escape``: ``\\.`` -> ``.``. A backslash before a letter or digit is regex
    syntax (``\\d``), not an escape, so it raises ``ValueError``."""

    def replace(found: re.Match[str]) -> str:
        if found[1].isascii() and found[1].isalnum():
            raise ValueError(f"cannot unescape '\\\\{found[1]}'")
        return found[1]

    return _RE_ESCAPE.sub(replace, text)
