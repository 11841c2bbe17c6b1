"""Signed values and signed cookies, against Tornado 6.6.1's.

- The same inputs sign to the same bytes; what one implementation signs, the other verifies
  (both formats, a fixed clock, dict secrets with key versions).
- Damaged, expired and made-up values are refused alike, with the same warnings.
- Tornado's own ``SignedValueTest`` (tornado/test/web_test.py) runs on minitornado: its
  methods are rebound to a copy of their module's globals in which the signing functions are
  ours (nothing in the test bodies is changed).
- ``RequestHandler``'s signed-cookie methods, served by both, read each other's cookies.

The handler methods live in ``_web_signing._SignedCookiesMixin`` until web.py's
``RequestHandler`` inherits them; until then the minitornado handlers here add the mixin.
"""

from __future__ import annotations

import base64
import logging
import types
import unittest
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import tornado.test.web_test as tornado_web_test
import tornado.web as theirs
from hypothesis import given, settings
from hypothesis import strategies as st
from support import Pair, get, serve_pair

import minitornado._web_signing as ours
from minitornado.escape import utf8

FEW = settings(max_examples=60, deadline=None)
NOW = 1300000000


def clock() -> float:
    return NOW


def outcome(function: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[str, Any]:
    """("ok", result) or ("raises", (exception type, message)), to compare alike."""
    try:
        return ("ok", function(*args, **kwargs))
    except Exception as e:
        return ("raises", (type(e), str(e)))


def same(name: str, *args: Any, **kwargs: Any) -> Any:
    """Call the module function ``name`` of both with the same arguments; same outcome."""
    mine = outcome(getattr(ours, name), *args, **kwargs)
    tornados = outcome(getattr(theirs, name), *args, **kwargs)
    assert mine == tornados, (name, args, kwargs)
    return mine


# ---- Constants and errors -------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["MIN_SUPPORTED_SIGNED_VALUE_VERSION", "MAX_SUPPORTED_SIGNED_VALUE_VERSION",
     "DEFAULT_SIGNED_VALUE_VERSION", "DEFAULT_SIGNED_VALUE_MIN_VERSION"],
)
def test_the_version_constants_are_tornados(name: str) -> None:
    # Scenario: write format 2, read formats 1 and 2 by default.
    assert getattr(ours, name) == getattr(theirs, name)


@pytest.mark.parametrize(
    ("secret", "kwargs"),
    [("s", {"version": 3}), ("s", {"version": 0}), ({1: "a"}, {}), ({1: "a"}, {"key_version": 2}),
     (None, {}), ("s", {"key_version": 7})],
    ids=repr,
)
def test_signing_errors_are_tornados(secret: Any, kwargs: dict[str, Any]) -> None:
    # Scenario: an unknown format, a dict secret without or with a missing key version, no
    # secret at all; a key version with a plain secret is written and signs with it.
    same("create_signed_value", secret, "name", "value", clock=clock, **kwargs)


@pytest.mark.parametrize("min_version", [None, 0, 1, 2, 3])
@pytest.mark.parametrize("value", [None, "", b"", "x", 5], ids=repr)
def test_decoding_errors_are_tornados(value: Any, min_version: int | None) -> None:
    # Scenario: min_version above 2 raises before the value is looked at; an empty value
    # is None; a value that is not str or bytes raises TypeError.
    same("decode_signed_value", "s", "name", value, clock=clock, min_version=min_version)


# ---- Generated: the same bytes, and each verifies the other's -------------------------------

secrets = st.one_of(st.text(max_size=20), st.binary(max_size=20))
names = st.one_of(st.text(alphabet="abcXYZ_-09", min_size=1, max_size=12), st.text(max_size=6))
values = st.one_of(st.text(max_size=30), st.binary(max_size=30))
# Format 1 refuses a timestamp with a leading zero, so the clock starts at a 1 (2001).
clocks = st.integers(1_000_000_000, 4_000_000_000)


@FEW
@given(secrets, names, values, st.sampled_from([1, 2]), clocks)
def test_generated_values_sign_alike_and_verify_across(
    secret: str | bytes, name: str, value: str | bytes, version: int, now: int
) -> None:
    # Scenario: any secret, name, value, format and time give Tornado's bytes; each
    # implementation reads what the other signed, as of the same time.
    mine = ours.create_signed_value(secret, name, value, version=version, clock=lambda: now)
    tornados = theirs.create_signed_value(secret, name, value, version=version, clock=lambda: now)
    assert mine == tornados
    for decode, signed in ((ours.decode_signed_value, tornados),
                           (theirs.decode_signed_value, mine)):  # fmt: skip
        got = decode(secret, name, signed, clock=lambda: now)
        assert got == (utf8(value) if version == 1 or readable_v2(name) else None)


def readable_v2(name: str) -> bool:
    """Whether a format-2 value signed under ``name`` can be read back at all.

    Two of Tornado's quirks, kept: a field's length is counted in characters, so a non-ASCII
    name gets a wrong one; and a line break inside a value makes it look like format 1.
    """
    return name.isascii() and "\n" not in name


key_dicts = st.dictionaries(st.integers(0, 5), secrets, min_size=1, max_size=4)


@FEW
@given(key_dicts, st.data(), names, values)
def test_generated_key_versions_sign_alike_and_verify_across(
    keys: dict[int, Any], data: st.DataObject, name: str, value: str | bytes
) -> None:
    # Scenario: a dict of secrets signs with the chosen key version, which either side
    # reads back (get_signature_key_version) and verifies; dropping that key refuses it.
    key_version = data.draw(st.sampled_from(sorted(keys)))
    mine = ours.create_signed_value(keys, name, value, clock=clock, key_version=key_version)
    tornados = theirs.create_signed_value(keys, name, value, clock=clock, key_version=key_version)
    assert mine == tornados
    readable = readable_v2(name)
    assert ours.get_signature_key_version(tornados) == (key_version if readable else None)
    assert theirs.get_signature_key_version(mine) == (key_version if readable else None)
    expected = utf8(value) if readable else None
    assert ours.decode_signed_value(keys, name, tornados, clock=clock) == expected
    if "\n" in name:  # read as format 1: Tornado raises (see "Differs on purpose" below)
        with pytest.raises(AssertionError):
            theirs.decode_signed_value(keys, name, mine, clock=clock)
    else:
        assert theirs.decode_signed_value(keys, name, mine, clock=clock) == expected
    rest = {k: v for k, v in keys.items() if k != key_version}
    assert ours.decode_signed_value(rest, name, tornados, clock=clock) is None


def damaged(signed: bytes, data: st.DataObject) -> bytes:
    """``signed`` with one of: a byte changed, a piece cut out, or bytes inserted."""
    at = data.draw(st.integers(0, len(signed)))
    how = data.draw(st.sampled_from(["change", "cut", "insert"]))
    if how == "change" and at < len(signed):
        return signed[:at] + bytes([signed[at] ^ data.draw(st.integers(1, 255))]) + signed[at + 1 :]
    if how == "cut":
        return signed[:at] + signed[at + data.draw(st.integers(1, 12)) :]
    piece = data.draw(st.sampled_from([b"|", b":", b"0", b"9", b"\n", b"2|", b"=", b"a", b"1:"]))
    return signed[:at] + piece + signed[at:]


@settings(max_examples=150, deadline=None)
@given(st.sampled_from([1, 2]), st.data(), st.floats(0, 60), st.integers(-40, 40))
def test_generated_damaged_values_are_refused_alike(
    version: int, data: st.DataObject, max_age_days: float, days_later: int
) -> None:
    # Scenario: a valid value, damaged in one place and checked at another time, gets the
    # same answer (value, None or error) and key version from both, and the same warnings.
    signed = ours.create_signed_value("secret", "name", b"some value", version=version, clock=clock)
    value = damaged(signed, data)
    later = NOW + days_later * 86400
    args = ("secret", "name", value)
    kwargs: dict[str, Any] = {"max_age_days": max_age_days, "clock": lambda: later}
    with capture("minitornado.general") as mine, capture("tornado.general") as tornados:
        same("decode_signed_value", *args, **kwargs)
    assert mine.messages == tornados.messages
    same("get_signature_key_version", value)


@FEW
@given(st.lists(st.sampled_from([b"2", b"1", b"|", b":", b"0", b"10", b"a", b"\n", b"=="]),
                max_size=20).map(b"".join))  # fmt: skip
def test_generated_made_up_values_are_refused_alike(value: bytes) -> None:
    # Scenario: strings of the format's own pieces ("2|", "10:", "|") are never accepted,
    # and their key version (unverified) is read alike.
    same("decode_signed_value", "secret", "name", value, clock=clock)
    keyed = b"2|" + value
    if theirs._get_version(keyed) == 1:  # a line break inside: format 1, see Differs below
        assert ours.decode_signed_value({0: "secret"}, "name", keyed, clock=clock) is None
    else:
        same("decode_signed_value", {0: "secret"}, "name", keyed, clock=clock)
    same("get_signature_key_version", value)


class capture(logging.Handler):
    """``with capture(logger_name) as log``: the messages logged there, in ``log.messages``."""

    def __init__(self, name: str) -> None:
        super().__init__(logging.DEBUG)
        self.logger = logging.getLogger(name)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())

    def __enter__(self) -> capture:
        self.logger.addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        self.logger.removeHandler(self)


@pytest.mark.parametrize(
    ("signed_at", "warning"),
    [(NOW - 32 * 86400, "Expired cookie"), (NOW, None),
     (NOW + 32 * 86400, "Cookie timestamp in future; possible tampering")],
)
def test_format_1_refusals_warn_as_tornado_does(signed_at: int, warning: str | None) -> None:
    # Scenario: a format-1 value signed too long ago or too far ahead is refused with
    # Tornado's warning; a good one with none.
    signed = ours.create_signed_value("s", "n", "v", version=1, clock=lambda: signed_at)
    with capture("minitornado.general") as log:
        got = ours.decode_signed_value("s", "n", signed, clock=clock)
    assert (got is None) == (warning is not None)
    assert [m.startswith(f"{warning} b'") for m in log.messages] == ([True] if warning else [])


def test_format_1_leading_zero_timestamp_is_refused_as_tampered() -> None:
    # Scenario: the format-1 HMAC has no delimiter, so "dmFsdWU=|0130..." with a valid HMAC
    # is a moved digit; it is refused with Tornado's warning.
    encoded, timestamp = b"dmFsdWU=", b"0" + str(NOW).encode()
    signature = ours._signature_v1("s", "n", encoded, timestamp)
    value = b"|".join([encoded, timestamp, signature])
    with capture("minitornado.general") as log:
        same("decode_signed_value", "s", "n", value, clock=clock)
    assert log.messages == [f"Tampered cookie {value!r}"]


# ---- Differs on purpose ---------------------------------------------------------------------


def test_a_format_1_value_against_a_dict_secret_is_refused_not_an_error() -> None:
    # Scenario: a cookie that looks like format 1, sent to an app with key versions: Tornado
    # raises AssertionError (a 500); minitornado says it does not verify.
    value = theirs.create_signed_value("s", "n", "v", version=1, clock=clock)
    assert ours.decode_signed_value({0: "s"}, "n", value, clock=clock) is None
    with pytest.raises(AssertionError):
        theirs.decode_signed_value({0: "s"}, "n", value, clock=clock)


def test_signing_format_1_with_a_dict_secret_says_why_it_fails() -> None:
    # Scenario: both raise AssertionError; ours names the problem, Tornado's is empty.
    with pytest.raises(AssertionError, match="dict secret needs format 2"):
        ours.create_signed_value({0: "s"}, "n", "v", version=1, key_version=0)
    with pytest.raises(AssertionError, match=r"^$"):
        theirs.create_signed_value({0: "s"}, "n", "v", version=1, key_version=0)


def test_hmac_comparison_is_constant_time() -> None:
    # Scenario: every signature check goes through hmac.compare_digest (a timing attack
    # could otherwise guess a signature byte by byte). A fake records the calls.
    calls: list[tuple[bytes, bytes]] = []

    def recording(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    real = ours.hmac.compare_digest
    fake_hmac = types.SimpleNamespace(new=ours.hmac.new, compare_digest=recording)
    original, ours.hmac = ours.hmac, fake_hmac  # type: ignore[assignment]
    try:
        for version in (1, 2):
            signed = ours.create_signed_value("s", "n", "v", version=version, clock=clock)
            assert ours.decode_signed_value("s", "n", signed + b"0", clock=clock) is None
    finally:
        ours.hmac = original
    assert len(calls) == 2


# ---- Tornado's SignedValueTest, on minitornado ----------------------------------------------


def tornado_signed_value_test() -> type[unittest.TestCase]:
    """A copy of Tornado's SignedValueTest whose methods see our functions by their names."""
    names = dict(vars(tornado_web_test))
    names.update(
        create_signed_value=ours.create_signed_value,
        decode_signed_value=ours.decode_signed_value,
        get_signature_key_version=ours.get_signature_key_version,
        _create_signature_v1=ours._signature_v1,
        _create_signature_v2=ours._signature_v2,
        utf8=utf8,
        gen_log=logging.getLogger("minitornado.general"),
    )
    original = tornado_web_test.SignedValueTest
    body: dict[str, Any] = {}
    for attribute, value in vars(original).items():
        if isinstance(value, types.FunctionType):
            copy = types.FunctionType(value.__code__, names, value.__name__, value.__defaults__,
                                      value.__closure__)  # fmt: skip
            copy.__dict__.update(value.__dict__)  # keeps skip markers
            body[attribute] = copy
        elif not attribute.startswith("__"):
            body[attribute] = value
    return type("SignedValueTestOnMinitornado", (original.__bases__[0],), body)


TORNADO_NAMES = unittest.TestLoader().getTestCaseNames(tornado_web_test.SignedValueTest)


@pytest.mark.parametrize("name", TORNADO_NAMES)
def test_tornados_signed_value_tests_pass_on_minitornado(name: str) -> None:
    # Scenario: each of Tornado's SignedValueTest methods, run on our functions.
    case = tornado_signed_value_test()
    method = case.__dict__[name]
    assert method.__globals__["decode_signed_value"] is ours.decode_signed_value
    result = unittest.TestResult()
    case(name).run(result)
    assert result.errors + result.failures == []
    assert result.testsRun == 1 and not result.skipped


# ---- The RequestHandler methods, served -----------------------------------------------------


def make_app(web: types.ModuleType, **app_settings: Any) -> Any:
    RH: Any = web.RequestHandler
    if not hasattr(RH, "set_signed_cookie"):  # until web.py inherits the mixin
        RH = type("RequestHandler", (RH, ours._SignedCookiesMixin), {})

    class Set(RH):
        def get(self) -> None:
            self.set_signed_cookie("c", self.get_argument("v", "value"))
            self.set_secure_cookie("old", b"\xe9", expires_days=None, httponly=True)

    class Read(RH):
        def get(self) -> None:
            signed = self.get_signed_cookie("c")
            old = self.get_secure_cookie("old", max_age_days=1)
            self.write({
                "c": base64.b64encode(signed).decode() if signed is not None else None,
                "old": base64.b64encode(old).decode() if old is not None else None,
                "key_version": self.get_signed_cookie_key_version("c"),
                "alias_key_version": self.get_secure_cookie_key_version("c"),
                "missing": self.get_signed_cookie_key_version("missing"),
            })  # fmt: skip

    class Errors(RH):
        def get(self) -> None:
            answers = []
            for call in (lambda: self.create_signed_value("c", "v"),
                         lambda: self.get_signed_cookie("c"),
                         lambda: self.require_setting("absent", "the absent thing"),
                         lambda: self.require_setting("absent")):  # fmt: skip
                try:
                    call()
                    answers.append("ok")
                except Exception as e:
                    answers.append(f"{type(e).__name__}: {e}")
            self.write({"answers": answers})

    return web.Application(
        [("/set", Set), ("/read", Read), ("/errors", Errors)], **app_settings
    )


def cookies_from(response: Any) -> str:
    """The ``Cookie`` header that sends back the cookies a response set."""
    values = [v.split(";")[0] for k, v in response.headers if k.lower() == "set-cookie"]
    return "; ".join(values)


@pytest.fixture(params=[{"cookie_secret": "secret"},
                        {"cookie_secret": {1: "one", 2: "two"}, "key_version": 2}],
                ids=["plain", "keyed"])  # fmt: skip
async def pair(request: pytest.FixtureRequest) -> AsyncIterator[Pair]:
    async with serve_pair(lambda web: make_app(web, **request.param)) as served:
        yield served


async def test_each_server_reads_the_signed_cookies_the_other_set(pair: Pair) -> None:
    # Scenario: a signed cookie set by Tornado is read by minitornado, and the other way
    # round; the answers (value, key version, the deprecated names) are the same.
    ours_set, theirs_set = await pair.fetch(get("/set?v=h%C3%A9llo"))
    assert [k for k, _ in ours_set.headers if k == "Set-Cookie"] == ["Set-Cookie"] * 2
    for response in (ours_set, theirs_set):
        cookie = cookies_from(response)
        read = await pair.same(get("/read", f"Cookie: {cookie}"))
        assert b'"c": "aMOpbGxv"' in read.body and b'"old": "6Q=="' in read.body


async def test_tampered_signed_cookies_are_refused_by_both(pair: Pair) -> None:
    # Scenario: the cookie minitornado set, one character changed, is None on both.
    ours_set, _ = await pair.fetch(get("/set"))
    signed, old = cookies_from(ours_set).split("; ")
    assert signed.startswith('c="2|') and signed.endswith('"')  # quoted: base64 has "="
    last = "0" if signed[-2] != "0" else "1"
    cookie = f"{signed[:-2]}{last}\"; {old}"
    read = await pair.same(get("/read", f"Cookie: {cookie}"))
    assert b'"c": null' in read.body


async def test_handler_setting_errors_are_tornados(pair: Pair) -> None:
    # Scenario: require_setting's message (with and without a feature name) is Tornado's.
    response = await pair.same(get("/errors"))
    assert b"You must define the 'absent' setting in your application to use" in response.body


@pytest.mark.parametrize("app_settings", [{}, {"cookie_secret": {1: "one"}}], ids=["none", "dict"])
async def test_missing_settings_raise_tornados_exceptions(app_settings: dict[str, Any]) -> None:
    # Scenario: no cookie_secret, or a dict of them without key_version: the same messages.
    async with serve_pair(lambda web: make_app(web, **app_settings)) as served:
        response = await served.same(get("/errors"))
    assert b"Exception: " in response.body
