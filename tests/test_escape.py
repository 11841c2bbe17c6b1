"""minitornado.escape against tornado.escape 6.6.1: the same results, types and errors.

Three kinds of test: fixed inputs chosen for their edges, hypothesis-generated inputs (kept
few, so the module runs in seconds), and Tornado's own tornado/test/escape_test.py run on
our functions. For that last one the test module's source is loaded and its
``from tornado.escape import`` line (and the ``tornado.escape.linkify`` calls) are pointed at
minitornado before it runs; everything else in it, its helpers included, is Tornado's.
"""

from __future__ import annotations

import functools
import importlib.util
import unittest
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import tornado.escape as theirs
from hypothesis import given, settings
from hypothesis import strategies as st
from tornado.test.util import assert_memory_budget

import minitornado.escape as ours

FEW = settings(max_examples=60, deadline=None)


def outcome(function: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[str, Any]:
    """What a call gives: ("ok", result, its type) or ("raises", the exception's type and
    message), so results and errors compare alike."""
    try:
        result = function(*args, **kwargs)
    except Exception as e:
        return ("raises", (type(e), str(e)))
    return ("ok", (result, type(result)))


def same(name: str, *args: Any, **kwargs: Any) -> Any:
    """Call ``name`` in both modules with the same arguments; assert the same outcome."""
    mine = outcome(getattr(ours, name), *args, **kwargs)
    tornados = outcome(getattr(theirs, name), *args, **kwargs)
    assert mine == tornados, (name, args, kwargs)
    return mine


# ---- Fixed inputs ---------------------------------------------------------------------------

STRINGS: list[Any] = [
    "", "ascii", "café", "\u2603 snow", "\ud800", b"", b"bytes", b"caf\xc3\xa9", b"\xff\xfe",
    None, 1, 1.5, ["list"], bytearray(b"ba"), memoryview(b"mv"),
]  # fmt: skip


@pytest.mark.parametrize("name", ["utf8", "to_unicode", "to_basestring", "native_str"])
@pytest.mark.parametrize("value", STRINGS, ids=repr)
def test_conversions_give_tornados_results_and_errors(name: str, value: Any) -> None:
    # Scenario: str, bytes, None, lone surrogates, invalid UTF-8 and wrong types.
    same(name, value)


def test_the_aliases_are_to_unicode() -> None:
    # Scenario: old code imports the Python 2 era names; they are the same function.
    assert ours.to_basestring is ours.to_unicode and ours.native_str is ours.to_unicode


@pytest.mark.parametrize(
    "value",
    [
        {b"k": [b"v", (b"w", {b"x": b"y"})], 1: None},
        [b"a", "b", 3, (b"c",)],
        (b"t", [b"u"]),
        b"caf\xc3\xa9",
        {b"set": {b"not walked"}},
        b"\xff",
    ],
    ids=repr,
)
def test_recursive_unicode_walks_the_same_containers(value: Any) -> None:
    # Scenario: dicts (keys too), lists and tuples are walked; a set is not; bad UTF-8 raises.
    same("recursive_unicode", value)


@pytest.mark.parametrize(
    "value",
    ["</script>", {"a": "</b></c>"}, ["<", "/", "</"], "<\\/", 1.5, None, "é\u2028", {1: 2}],
    ids=repr,
)
def test_json_encode_escapes_the_end_of_a_script_element(value: Any) -> None:
    # Scenario: every "</" is written "<\/", and the rest is json.dumps's output.
    kind, (result, _) = same("json_encode", value)
    assert kind == "ok" and "</" not in result


@pytest.mark.parametrize(
    "value", ['"x"', b'"caf\xc3\xa9"', b"\xef\xbb\xbf[1]", "[1, 2", b"\xff", "NaN", ""], ids=repr
)
def test_json_decode_gives_tornados_results_and_errors(value: Any) -> None:
    # Scenario: str and bytes (UTF-8, with a BOM), and malformed JSON.
    same("json_decode", value)


@pytest.mark.parametrize(
    "value", ["  a \t\n b  ", "\x00\x01x\x1f", "a\u00a0b", "\u3000x\u3000", "", " "], ids=repr
)
def test_squeeze_gives_tornados_results(value: str) -> None:
    # Scenario: ASCII controls and spaces squeezed; Unicode spaces only stripped at the ends.
    same("squeeze", value)


HTML = ["<a href='x'>&\"</a>", b"<\xc3\xa9>", "&amp;lt;", "&#x27;&#39;&eacute;&#0;&#xd800;",
        "&notin; &notit; &amp", b"&lt;\xff"]  # fmt: skip


@pytest.mark.parametrize("name", ["xhtml_escape", "xhtml_unescape"])
@pytest.mark.parametrize("value", HTML, ids=repr)
def test_xhtml_escaping_gives_tornados_results(name: str, value: Any) -> None:
    # Scenario: the five characters, entities with and without ";", bad references, bytes.
    same(name, value)


URLS = ["a b/c+d", "caf%C3%A9+x", b"caf%C3%A9+x", "%E9", "%zz%", "+%2B", b"\xff+%41",
        b"\xff%41", "é/?&=#", ""]  # fmt: skip


@pytest.mark.parametrize("plus", [True, False])
@pytest.mark.parametrize("value", URLS, ids=repr)
def test_url_escape_gives_tornados_results(value: Any, plus: bool) -> None:
    # Scenario: spaces, slashes, non-ASCII text, bytes, both "plus" modes.
    same("url_escape", value, plus=plus)


@pytest.mark.parametrize("encoding", ["utf-8", "latin-1", None])
@pytest.mark.parametrize("plus", [True, False])
@pytest.mark.parametrize("value", URLS, ids=repr)
def test_url_unescape_gives_tornados_results(value: Any, plus: bool, encoding: Any) -> None:
    # Scenario: every mix of plus and encoding; bytes that are not UTF-8 raise but for
    # encoding=None with plus=False, which takes them as they are.
    same("url_unescape", value, encoding=encoding, plus=plus)


QUERIES = ["a=1&b=2&a=3", "a=1&&b=&c", "%E9=%E9", "a+b=c+d%2B", "=v&k=", "a=%zz%4", "&&&",
           b"k=\xff%FF", "a=1;b=2", "x=%%41"]  # fmt: skip


@pytest.mark.parametrize("strict", [False, True])
@pytest.mark.parametrize("blank", [False, True])
@pytest.mark.parametrize("qs", QUERIES, ids=repr)
def test_parse_qs_bytes_gives_tornados_results(qs: Any, blank: bool, strict: bool) -> None:
    # Scenario: repeated names, empty fields and values, bad escapes, str and bytes input,
    # strict parsing's errors.
    same("parse_qs_bytes", qs, keep_blank_values=blank, strict_parsing=strict)


@pytest.mark.parametrize("limit", [None, 1, 2, 3, 4])
def test_parse_qs_bytes_counts_fields_as_tornado_does(limit: int | None) -> None:
    # Scenario: max_num_fields counts empty fields too, and raises the same message.
    same("parse_qs_bytes", "a=1&&b=2", max_num_fields=limit)


CHUNK = ours._UNQUOTE_CHUNK


@pytest.mark.parametrize("tail", [b"%41", b"%4", b"%", b"%%41", b"A%41", b"AA%41", b"%41%"])
@pytest.mark.parametrize("filler", [CHUNK - 4, CHUNK - 3, CHUNK - 2, CHUNK - 1, CHUNK])
def test_unquote_never_cuts_an_escape(filler: int, tail: bytes) -> None:
    # Scenario: escapes (whole or broken) placed on every position around the first cut
    # between pieces decode as the standard library decodes the whole input.
    data = b"x" * filler + tail + b"%42" * 3
    assert ours._unquote_to_bytes(data) == urllib.parse.unquote_to_bytes(data)


# ---- Generated inputs -----------------------------------------------------------------------

text = st.text(max_size=40)
binary = st.binary(max_size=40)
URL_PIECES = [b"%", b"+", b"&", b"=", b"a", b"Z", b"2", b"F", b"\xff", b"\xc3\xa9", b" ",
              b"\n", b"/", b"%4"]  # fmt: skip
url_bytes = st.lists(st.sampled_from(URL_PIECES), max_size=30).map(b"".join)


@FEW
@given(st.one_of(text, binary, st.none()))
def test_generated_conversions(value: str | bytes | None) -> None:
    # Scenario: any str, bytes or None converts alike (or fails alike).
    same("utf8", value)
    same("to_unicode", value)


@FEW
@given(st.one_of(text, binary))
def test_generated_html_and_whitespace(value: str | bytes) -> None:
    # Scenario: any text escapes and unescapes alike; squeeze takes str only.
    same("xhtml_escape", value)
    same("xhtml_unescape", value)
    if isinstance(value, str):
        same("squeeze", value)


@FEW
@given(st.one_of(text, binary, url_bytes, url_bytes.map(lambda b: b.decode("latin-1"))),
       st.booleans(), st.sampled_from(["utf-8", "latin-1", None]))  # fmt: skip
def test_generated_urls(value: str | bytes, plus: bool, encoding: str | None) -> None:
    # Scenario: any value escapes alike, and unescapes alike in every mode.
    same("url_escape", value, plus=plus)
    same("url_unescape", value, encoding=encoding, plus=plus)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=12,
)


@FEW
@given(json_values)
def test_generated_json(value: Any) -> None:
    # Scenario: any JSON-able value encodes alike, and its encoding decodes alike.
    kind, (encoded, _) = same("json_encode", value)
    assert kind == "ok"
    same("json_decode", encoded)
    same("json_decode", encoded.encode("utf-8"))


@FEW
@given(st.recursive(binary | st.integers() | text,
                    lambda c: st.lists(c, max_size=3) | st.lists(c, max_size=3).map(tuple)
                    | st.dictionaries(binary, c, max_size=3), max_leaves=10))  # fmt: skip
def test_generated_recursive_unicode(value: Any) -> None:
    # Scenario: any nesting of bytes in containers converts alike (or fails alike).
    same("recursive_unicode", value)


@FEW
@given(url_bytes, st.booleans(), st.booleans())
def test_generated_query_strings(qs: bytes, blank: bool, strict: bool) -> None:
    # Scenario: strings of "%", "+", "&", "=" and others parse alike, as bytes and as str.
    same("parse_qs_bytes", qs, keep_blank_values=blank, strict_parsing=strict)
    same("parse_qs_bytes", qs.decode("latin-1"), keep_blank_values=blank)


@settings(max_examples=25, deadline=None)
@given(st.integers(CHUNK - 6, CHUNK + 2), url_bytes)
def test_generated_unquote_across_the_first_cut(filler: int, tail: bytes) -> None:
    # Scenario: random escapes around the place where the input is cut into pieces.
    data = b"x" * filler + tail
    assert ours._unquote_to_bytes(data) == theirs._unquote_to_bytes(data)


# ---- Tornado's own tests, run on minitornado ------------------------------------------------

TORNADO_TESTS = Path(theirs.__file__).parent / "test" / "escape_test.py"


def tornado_test_module() -> ModuleType:
    """tornado/test/escape_test.py, its imports of tornado.escape pointed at minitornado."""
    source = TORNADO_TESTS.read_text()
    swapped = source.replace("from tornado.escape import (", "from minitornado.escape import (")
    swapped = swapped.replace("tornado.escape.linkify", "minitornado.escape.linkify")
    assert swapped.count("minitornado.escape") == 3, "Tornado's test module changed: re-read"
    spec = importlib.util.spec_from_loader("escape_test_on_minitornado", loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    exec(compile("import minitornado.escape\n" + swapped, str(TORNADO_TESTS), "exec"),
         module.__dict__)  # fmt: skip
    return module


@functools.cache
def tornado_case() -> type[unittest.TestCase]:
    """Tornado's EscapeTestCase, on minitornado (not a module global: pytest would collect
    it as it stands)."""
    case: type[unittest.TestCase] = tornado_test_module().EscapeTestCase
    return case


# linkify is left out (see escape.py). test_memory_budget builds its list of cases with
# linkify in it, so it stops before measuring anything: its other three cases are measured
# by test_escaping_peak_memory_is_bounded_as_tornado_requires below.
NEEDS_LINKIFY = {"test_linkify", "test_memory_budget"}


@pytest.mark.parametrize("name", unittest.TestLoader().getTestCaseNames(tornado_case()))
def test_tornados_escape_tests_pass_on_minitornado(name: str) -> None:
    # Scenario: each of Tornado's escape tests runs on our functions. Those that need the
    # left-out linkify must fail for that reason only, so adding linkify shows up here.
    result = unittest.TestResult()
    tornado_case()(name).run(result)
    problems = [(str(test), trace) for test, trace in result.errors + result.failures]
    if name in NEEDS_LINKIFY:
        assert problems, f"{name} passes now: take it out of NEEDS_LINKIFY"
        for test, trace in problems:
            assert "has no attribute 'linkify'" in trace, (test, trace)
    else:
        assert problems == []
        assert result.testsRun == 1 and not result.skipped


@pytest.mark.parametrize(
    ("name", "data"),
    [("xhtml_escape", "<" * 60_000), ("xhtml_unescape", "&a;" * 20_000),
     ("url_escape", "\u00e9<" * 30_000)],
)
def test_escaping_peak_memory_is_bounded_as_tornado_requires(name: str, data: str) -> None:
    # Scenario: the cases of Tornado's test_memory_budget that do not need linkify, with
    # its bound (30 bytes per input byte) and its measuring helper.
    with assert_memory_budget(len(data), max_ratio=30, msg=f"{name} uses too much memory"):
        getattr(ours, name)(data)
