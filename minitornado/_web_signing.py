"""Signed values: a string an app hands out (a cookie, say) and can later trust it made.

Mirrors: tornado/web.py (Tornado 6.6): ``create_signed_value``, ``decode_signed_value``,
``get_signature_key_version``, the signed-value version constants, and the signed-cookie
methods of ``RequestHandler``.

A signed value carries the value (base64), the time it was signed, the name it was signed
under and an HMAC of all that keyed with the application's ``cookie_secret``. Without the
secret no one can make a value that verifies, and the timestamp lets an old one be refused.
The value is only signed, not encrypted: base64 hides nothing.

Two formats, as in Tornado. Version 2, the default::

    2|1:0|10:1300000000|3:key|8:dmFsdWU=|<HMAC-SHA256, 64 hex digits>

is the format number, then four fields each written ``length:content`` (key version,
timestamp, name, base64 value), each followed by ``|``; the HMAC covers everything before
it. Version 1, ``dmFsdWU=|1300000000|<HMAC-SHA1, 40 hex digits>``, is still read by
default (for cookies set long ago) but no longer written: its HMAC runs the parts together
with no delimiter, so their boundaries are not signed. With a
dict of secrets (``{key_version: secret}``), version 2 records which key signed, so the
secret can be changed without making every cookie out there invalid at once.

Kept: both formats, byte for byte; secrets as str, bytes or a dict of key versions;
``hmac.compare_digest`` for every signature check; Tornado's warnings on ``gen_log`` for
rejected version-1 values; ``max_age_days``, ``min_version`` and a ``clock`` to test with.
``_SignedCookiesMixin`` holds the ``RequestHandler`` methods built on them:
``set_signed_cookie`` / ``get_signed_cookie`` / ``get_signed_cookie_key_version`` (and
their deprecated ``*_secure_*`` names), ``create_signed_value``, ``require_setting``.

Left out: nothing of signing. (XSRF tokens, which are not signed values, are left out with
XSRF; tornado/web.py.)

Study path: none of the steps goes through this module.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections.abc import Callable
from typing import Any, Protocol

from minitornado.escape import utf8
from minitornado.log import gen_log

# A secret, or secrets by key version.
# Tornado: tornado/web.py::_CookieSecretTypes
_CookieSecretTypes = str | bytes | dict[int, str] | dict[int, bytes]

# The formats this module reads and writes, and the defaults: write 2, read 1 and 2.
# Tornado: tornado/web.py::MIN_SUPPORTED_SIGNED_VALUE_VERSION
MIN_SUPPORTED_SIGNED_VALUE_VERSION = 1
MAX_SUPPORTED_SIGNED_VALUE_VERSION = 2
DEFAULT_SIGNED_VALUE_VERSION = 2
DEFAULT_SIGNED_VALUE_MIN_VERSION = 1

_DAY = 86400  # seconds

# ---- Signing --------------------------------------------------------------------------------


# Tornado: tornado/web.py::create_signed_value
def create_signed_value(
    secret: _CookieSecretTypes,
    name: str,
    value: str | bytes,
    version: int | None = None,
    clock: Callable[[], float] | None = None,
    key_version: int | None = None,
) -> bytes:
    """Sign ``value`` under ``name`` with ``secret``, stamped with the time ``clock()``.

    ``version`` is the format, 1 or 2 (default ``DEFAULT_SIGNED_VALUE_VERSION``, 2); any
    other raises ``ValueError``. With a dict ``secret``, ``key_version`` picks the key and
    is written into the value (format 2 only). ``clock`` defaults to ``time.time``.

    >>> create_signed_value("secret", "key", "value", clock=lambda: 1300000000)[:37]
    b'2|1:0|10:1300000000|3:key|8:dmFsdWU=|'

    Compared with Tornado:
        Same: the bytes produced, and the errors (a dict ``secret`` without a
        ``key_version`` raises ``AssertionError``, an unknown ``key_version``
        ``KeyError``). Like Tornado, a field's length is counted in characters, so a name
        that is not ASCII gives a value that never verifies, in either.
        Differs on purpose: a dict ``secret`` with format 1 raises ``AssertionError`` with
        a message saying so (Tornado's is empty).
    """
    version = DEFAULT_SIGNED_VALUE_VERSION if version is None else version
    clock = time.time if clock is None else clock
    timestamp = str(int(clock())).encode()
    encoded = base64.b64encode(utf8(value))
    if version == 1:
        if isinstance(secret, dict):
            raise AssertionError("format 1 has no key version: a dict secret needs format 2")
        signature = _signature_v1(secret, name, encoded, timestamp)
        return b"|".join([encoded, timestamp, signature])
    if version == 2:
        fields: list[str | bytes] = [str(key_version or 0), timestamp, name, encoded]
        # "2|", then "length:content|" per field; the HMAC covers all of it, last "|" too.
        signed = b"2|" + b"".join(b"%d:%s|" % (len(f), utf8(f)) for f in fields)
        if isinstance(secret, dict):
            if key_version is None:
                raise AssertionError("Key version must be set when sign key dict is used")
            secret = secret[key_version]
        return signed + _signature_v2(secret, signed)
    raise ValueError(f"Unsupported version {version}")


# ---- Verifying ------------------------------------------------------------------------------


# Tornado: tornado/web.py::decode_signed_value
def decode_signed_value(
    secret: _CookieSecretTypes,
    name: str,
    value: str | bytes | None,
    max_age_days: float = 31,
    clock: Callable[[], float] | None = None,
    min_version: int | None = None,
) -> bytes | None:
    """The value signed in ``value``, if it verifies; otherwise ``None``.

    It verifies if the HMAC matches ``secret`` (the key its key version names, for a dict),
    it was signed under ``name``, is at most ``max_age_days`` old by ``clock()``, and its
    format is at least ``min_version`` (default ``DEFAULT_SIGNED_VALUE_MIN_VERSION``, 1).
    An empty or ``None`` ``value`` gives ``None``; a ``min_version`` above 2 raises
    ``ValueError``. A rejected format-1 value is logged as a warning on ``gen_log``.

    >>> now = lambda: 1300000000
    >>> signed = create_signed_value("secret", "key", "value", clock=now)
    >>> decode_signed_value("secret", "key", signed, clock=now)
    b'value'
    >>> decode_signed_value("other secret", "key", signed, clock=now) is None
    True

    Compared with Tornado:
        Same: what verifies and what does not, the warnings.
        Simplified: format 1 reads ``clock()`` once, not once per check.
        Differs on purpose: a format-1 value checked against a dict ``secret`` is ``None``
        (it cannot be one of ours); Tornado raises ``AssertionError``, so a crafted cookie
        made a 500.
    """
    clock = time.time if clock is None else clock
    min_version = DEFAULT_SIGNED_VALUE_MIN_VERSION if min_version is None else min_version
    if min_version > 2:
        raise ValueError(f"Unsupported min_version {min_version}")
    if not value:
        return None
    value = utf8(value)
    version = _format_version(value)
    if version < min_version:
        return None
    if version == 1:
        if isinstance(secret, dict):
            return None
        return _decode_v1(secret, name, value, max_age_days, clock())
    if version == 2:
        return _decode_v2(secret, name, value, max_age_days, clock())
    return None


# Tornado: tornado/web.py::get_signature_key_version
def get_signature_key_version(value: str | bytes) -> int | None:
    """The key version written in a format-2 ``value``; ``None`` for format 1 or garbage.

    Nothing is verified: use it to choose a secret, then ``decode_signed_value``.
    """
    value = utf8(value)
    if _format_version(value) < 2:
        return None
    try:
        return _fields_v2(value)[0]
    except ValueError:
        return None


# The "2|" that starts a format-2 value. "." stops at a line break, and "$" also matches
# before a final one: a value with a line break inside is taken for format 1, as in Tornado.
# Tornado: tornado/web.py::_signed_value_version_re (private here)
_VERSION_PREFIX = re.compile(rb"([1-9][0-9]*)\|.*$")


# Tornado: tornado/web.py::_get_version
def _format_version(value: bytes) -> int:
    """The format of a signed value: the number before the first ``|``, else 1.

    Format 1 starts with base64, which can look like a number: "1234|" could be either. Its
    base64 comes in groups of four characters, so a number of up to three digits can only
    be a format; a longer one is taken for format-1 data.
    """
    found = _VERSION_PREFIX.match(value)
    if found is None or len(found[1]) > 3:
        return 1
    return int(found[1])


# Tornado: tornado/web.py::_decode_signed_value_v1
def _decode_v1(
    secret: str | bytes, name: str, value: bytes, max_age_days: float, now: float
) -> bytes | None:
    """Verify a format-1 value (``base64|timestamp|signature``), as of ``now``."""
    parts = value.split(b"|")
    if len(parts) != 3:
        return None
    encoded, timestamp, signature = parts
    if not hmac.compare_digest(signature, _signature_v1(secret, name, encoded, timestamp)):
        gen_log.warning("Invalid cookie signature %r", value)
        return None
    try:
        signed_at = int(timestamp)
    except ValueError:
        return None
    if signed_at < now - max_age_days * _DAY:
        gen_log.warning("Expired cookie %r", value)
        return None
    # The HMAC has no delimiter between value and timestamp, so digits could move from the
    # end of one to the start of the other without changing it. A real timestamp is neither
    # far in the future nor written with a leading zero: refuse both.
    if signed_at > now + 31 * _DAY:
        gen_log.warning("Cookie timestamp in future; possible tampering %r", value)
        return None
    if timestamp.startswith(b"0"):
        gen_log.warning("Tampered cookie %r", value)
        return None
    return _b64decode(encoded)


# Tornado: tornado/web.py::_decode_fields_v2
def _fields_v2(value: bytes) -> tuple[int, bytes, bytes, bytes, bytes]:
    """(key version, timestamp, name, base64 value, signature) of a format-2 value.

    Raises ``ValueError`` when a length is not a number or a field is not followed by ``|``.
    """
    rest = value[2:]  # after "2|"
    fields = []
    for _ in range(4):
        length, _colon, rest = rest.partition(b":")
        n = int(length)
        if rest[n : n + 1] != b"|":
            raise ValueError("malformed v2 signed value field")
        fields.append(rest[:n])
        rest = rest[n + 1 :]
    key_version, timestamp, name, encoded = fields
    return int(key_version), timestamp, name, encoded, rest


# Tornado: tornado/web.py::_decode_signed_value_v2
def _decode_v2(
    secret: _CookieSecretTypes, name: str, value: bytes, max_age_days: float, now: float
) -> bytes | None:
    """Verify a format-2 value, as of ``now``."""
    try:
        key_version, timestamp, signed_name, encoded, signature = _fields_v2(value)
    except ValueError:
        return None
    if isinstance(secret, dict):
        if key_version not in secret:
            return None
        secret = secret[key_version]
    signed = value[: len(value) - len(signature)]
    if not hmac.compare_digest(signature, _signature_v2(secret, signed)):
        return None
    if signed_name != utf8(name):
        return None
    try:
        signed_at = int(timestamp)
    except ValueError:
        return None
    if signed_at < now - max_age_days * _DAY:
        return None
    return _b64decode(encoded)


def _b64decode(encoded: bytes) -> bytes | None:
    """``base64.b64decode``, or ``None`` for bad padding (the HMAC was right all the same)."""
    try:
        return base64.b64decode(encoded)
    except ValueError:  # binascii.Error is a ValueError
        return None


# Tornado: tornado/web.py::_create_signature_v1
def _signature_v1(secret: str | bytes, *parts: str | bytes) -> bytes:
    """HMAC-SHA1 of the parts, run together, as hex digits."""
    mac = hmac.new(utf8(secret), digestmod=hashlib.sha1)
    for part in parts:
        mac.update(utf8(part))
    return mac.hexdigest().encode()


# Tornado: tornado/web.py::_create_signature_v2
def _signature_v2(secret: str | bytes, signed: bytes) -> bytes:
    """HMAC-SHA256 of ``signed``, as hex digits."""
    return hmac.new(utf8(secret), signed, hashlib.sha256).hexdigest().encode()


# ---- The RequestHandler methods -------------------------------------------------------------


class _CookieHandler(Protocol):
    """What the methods below use of ``web.RequestHandler``."""

    @property
    def settings(self) -> dict[str, Any]: ...
    def get_cookie(self, name: str, default: None = None) -> str | None: ...
    def set_cookie(self, name: str, value: str | bytes, *args: Any, **kwargs: Any) -> None: ...
    def require_setting(self, name: str, feature: str = "this feature") -> None: ...
    def create_signed_value(
        self, name: str, value: str | bytes, version: int | None = None
    ) -> bytes: ...


class _SignedCookiesMixin:
    """The signed-cookie methods of ``web.RequestHandler``, on the ``cookie_secret`` setting
    (and ``key_version``, when ``cookie_secret`` is a dict)."""

    # Tornado: tornado/web.py::RequestHandler.set_signed_cookie
    def set_signed_cookie(
        self: _CookieHandler,
        name: str,
        value: str | bytes,
        expires_days: float | None = 30,
        version: int | None = None,
        **kwargs: Any,
    ) -> None:
        """``set_cookie`` with a signed value (``create_signed_value``): the client can
        read it, not forge it. ``get_signed_cookie`` reads it back, on a later request.

        ``expires_days`` is how long the browser keeps it (``None``: until it closes);
        ``get_signed_cookie``'s ``max_age_days`` is how long it is accepted. The other
        keyword arguments go to ``set_cookie``.

        Compared with Tornado:
            Same: also named ``set_secure_cookie`` (deprecated since Tornado 6.3).
        """
        signed = self.create_signed_value(name, value, version=version)
        self.set_cookie(name, signed, expires_days=expires_days, **kwargs)

    # Tornado: tornado/web.py::RequestHandler.set_secure_cookie
    set_secure_cookie = set_signed_cookie

    # Tornado: tornado/web.py::RequestHandler.create_signed_value
    def create_signed_value(
        self: _CookieHandler, name: str, value: str | bytes, version: int | None = None
    ) -> bytes:
        """``value`` signed under ``name`` with the ``cookie_secret`` setting, now.

        For signed values that do not travel as cookies; ``get_signed_cookie(name,
        value=...)`` reads them. A dict ``cookie_secret`` needs the ``key_version`` setting
        (which key signs); without it this raises ``Exception``.
        """
        self.require_setting("cookie_secret", "secure cookies")
        secret = self.settings["cookie_secret"]
        key_version = None
        if isinstance(secret, dict):
            if self.settings.get("key_version") is None:
                raise Exception("key_version setting must be used for secret_key dicts")
            key_version = self.settings["key_version"]
        return create_signed_value(secret, name, value, version=version, key_version=key_version)

    # Tornado: tornado/web.py::RequestHandler.get_signed_cookie
    def get_signed_cookie(
        self: _CookieHandler,
        name: str,
        value: str | None = None,
        max_age_days: float = 31,
        min_version: int | None = None,
    ) -> bytes | None:
        """The value of the request's signed cookie ``name`` (bytes), or ``None`` if it is
        missing or does not verify (``decode_signed_value``).

        ``value`` is checked instead of the cookie when given. Like ``get_cookie``, only the
        request's cookies are seen, not those this handler is setting.

        Compared with Tornado:
            Same: also named ``get_secure_cookie`` (deprecated since Tornado 6.3).
        """
        self.require_setting("cookie_secret", "secure cookies")
        if value is None:
            value = self.get_cookie(name)
        return decode_signed_value(
            self.settings["cookie_secret"],
            name,
            value,
            max_age_days=max_age_days,
            min_version=min_version,
        )

    # Tornado: tornado/web.py::RequestHandler.get_secure_cookie
    get_secure_cookie = get_signed_cookie

    # Tornado: tornado/web.py::RequestHandler.get_signed_cookie_key_version
    def get_signed_cookie_key_version(
        self: _CookieHandler, name: str, value: str | None = None
    ) -> int | None:
        """The key version of the request's signed cookie ``name`` (or of ``value``), not
        verified; ``None`` if it is missing or has none.

        Compared with Tornado:
            Same: also named ``get_secure_cookie_key_version`` (deprecated since 6.3).
        """
        self.require_setting("cookie_secret", "secure cookies")
        if value is None:
            value = self.get_cookie(name)
        if value is None:
            return None
        return get_signature_key_version(value)

    # Tornado: tornado/web.py::RequestHandler.get_secure_cookie_key_version
    get_secure_cookie_key_version = get_signed_cookie_key_version

    # Tornado: tornado/web.py::RequestHandler.require_setting
    def require_setting(self: _CookieHandler, name: str, feature: str = "this feature") -> None:
        """Raise ``Exception`` unless the application setting ``name`` is set (and true)."""
        if not self.settings.get(name):
            raise Exception(
                f"You must define the '{name}' setting in your application to use {feature}"
            )
