"""The wire side of ``minitornado.study.compare``: send raw bytes, read the answer, tell two apart.

Mirrors: nothing in Tornado (a tool of ours; Tornado's own tests read answers with its
HTTP client, which would hide the framing this tool wants to see).

``exchange`` sends one request's bytes on a fresh TCP connection and reads until the
answer is complete, then records it as an ``Exchange``: the responses parsed from the bytes
(status line, headers in their order, body as framed on the wire, chunk sizes included),
the bytes that do not parse as a response, and how the connection ended. ``differences``
says in words how two exchanges differ, ours first. ``Date`` values and ``Server`` values
never count as differences (the first is the time, the second is declared in ``web``).

When is an answer complete? The server closed the connection; or the expected number of
final (non-1xx) responses has arrived and then ``quiet`` seconds passed without a byte: the
server left the connection open. A response framed by neither ``Content-Length`` nor
chunked encoding ends only with the connection.

Kept: what the comparison needs. Left out: TLS, and any parsing leniency (a response must
be exact to be parsed; anything else stays visible as unparsed bytes).

Study path: none; this is the client the study path is observed with.
"""

import asyncio
import contextlib
import re
import socket
from dataclasses import dataclass, field

# Header values that differ on every run or by design, compared as these placeholders.
MASKED = {"date": "<date>", "server": "<server>"}
SHOWN = 40  # characters of a body shown in a difference


@dataclass(frozen=True)
class Response:
    """One response as it came: ``complete`` is False if the connection cut it short."""

    status_line: str
    headers: list[tuple[str, str]]
    body: bytes
    complete: bool = True

    @property
    def code(self) -> str:
        parts = self.status_line.split(" ", 2)
        return parts[1] if len(parts) > 1 else "?"

    @property
    def interim(self) -> bool:
        return self.code.startswith("1")


@dataclass
class Exchange:
    """What one server did with one request."""

    responses: list[Response] = field(default_factory=list)
    unparsed: bytes = b""
    ending: str = "open"  # "closed" by the server, "open" after the quiet time, or "timeout"
    error: str = ""  # the request could not even be sent

    def outcome(self) -> str:
        """Status codes and ending in one word each: ``200 open``, ``100+200 closed``, ``- closed``.

        A response cut short by the close reads ``200(cut)``; bytes that are no response
        add ``+junk``.
        """
        if self.error:
            return "error"
        codes = [r.code + ("" if r.complete else "(cut)") for r in self.responses]
        if self.unparsed:
            codes.append("junk")
        return f"{'+'.join(codes) or '-'} {self.ending}"


def is_bare_400(answer: Exchange) -> bool:
    """The answer both libraries give a request they cannot parse: ``400`` alone, then the close."""
    return (
        answer.ending == "closed"
        and not answer.unparsed
        and [(r.status_line, r.headers, r.body) for r in answer.responses]
        == [("HTTP/1.1 400 Bad Request", [], b"")]
    )


# ---- Sending and reading --------------------------------------------------------------------


async def exchange(
    port: int, raw: bytes, *, responses: int, head: bool, timeout: float, quiet: float
) -> Exchange:
    """Send ``raw`` on a new connection to 127.0.0.1:``port`` and record the answer.

    ``responses`` final responses are expected (more than one for pipelined requests);
    ``head`` says they answer HEAD requests, so they carry no body. Every wait is bounded:
    ``timeout`` for the whole answer, ``quiet`` of silence after it.
    """
    loop = asyncio.get_running_loop()
    # A plain socket, not asyncio's streams: a StreamReader raises a pending reset before it
    # hands over the bytes that came just before it, and those bytes are the answer.
    with socket.socket() as sock:
        sock.setblocking(False)
        try:
            await asyncio.wait_for(loop.sock_connect(sock, ("127.0.0.1", port)), timeout)
        except (OSError, asyncio.TimeoutError) as error:
            return Exchange(error=f"cannot connect: {error!r}")
        # The server may close before it has read everything (an oversized header block):
        # that is an answer too, read below.
        with contextlib.suppress(ConnectionError, asyncio.TimeoutError):
            await asyncio.wait_for(loop.sock_sendall(sock, raw), timeout)
        data, ending = await _read_answer(sock, responses, head, timeout, quiet)
    parsed, rest = parse_responses(data, head, closed=ending == "closed")
    return Exchange(parsed, rest, ending)


async def _read_answer(
    sock: socket.socket, expected: int, head: bool, timeout: float, quiet: float
) -> tuple[bytes, str]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    data = b""
    while True:
        parsed, _ = parse_responses(data, head, closed=False)
        done = sum(not r.interim for r in parsed) >= expected
        wait = quiet if done else deadline - loop.time()
        try:
            chunk = await asyncio.wait_for(loop.sock_recv(sock, 65536), max(wait, 0))
        except asyncio.TimeoutError:
            return data, "open" if done else "timeout"
        except ConnectionError:
            chunk = b""  # a reset (the server closed with our bytes unread) ends it too
        if not chunk:
            return data, "closed"
        data += chunk


# ---- Parsing responses ----------------------------------------------------------------------


def parse_responses(data: bytes, head: bool, closed: bool) -> tuple[list[Response], bytes]:
    """Split ``data`` into complete responses, and the rest.

    With ``closed``, a response whose body runs to the close is complete, and a response
    cut short by the close is returned too, marked incomplete.
    """
    responses: list[Response] = []
    while data:
        parsed = _parse_one(data, head, closed)
        if parsed is None:
            break
        response, data = parsed
        responses.append(response)
        if not response.complete:
            break
    return responses, data


def _parse_one(data: bytes, head: bool, closed: bool) -> tuple[Response, bytes] | None:
    end = data.find(b"\r\n\r\n")
    if not data.startswith(b"HTTP/") or end < 0:
        return None
    lines = data[:end].decode("latin-1").split("\r\n")
    headers = []
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon:
            return None
        headers.append((name, value.strip(" \t")))
    response = Response(lines[0], headers, b"")
    rest = data[end + 4 :]
    length = _body_length(response, rest, head, closed)
    if length is None:
        if not closed:
            return None
        return Response(response.status_line, headers, rest, complete=False), b""
    return Response(response.status_line, headers, rest[:length]), rest[length:]


def _body_length(response: Response, rest: bytes, head: bool, closed: bool) -> int | None:
    """How many bytes of ``rest`` are the body, or None if it has not all arrived."""
    # RFC 9112 §6.3: the rules a client uses to find the end of a response body.
    names = {name.lower(): value for name, value in response.headers}
    if head or response.interim or response.code in ("204", "304"):
        return 0
    if "chunked" in names.get("transfer-encoding", "").lower():
        return _chunked_length(rest)
    if "content-length" in names:
        length = int(names["content-length"]) if names["content-length"].isdigit() else -1
        return length if 0 <= length <= len(rest) else None
    return len(rest) if closed else None


def _chunked_length(rest: bytes) -> int | None:
    position = 0
    while True:
        match = re.match(rb"([0-9a-fA-F]+)[^\r\n]*\r\n", rest[position:])
        if match is None:
            return None
        size = int(match.group(1), 16)
        position += match.end()
        if size == 0:
            trailer_end = rest.find(b"\r\n", position)
            while trailer_end > position:  # skip trailer fields up to the empty line
                position = trailer_end + 2
                trailer_end = rest.find(b"\r\n", position)
            return position + 2 if trailer_end == position else None
        if rest[position + size : position + size + 2] != b"\r\n":
            return None
        position += size + 2


# ---- Telling two exchanges apart ------------------------------------------------------------


def differences(ours: Exchange, theirs: Exchange) -> list[str]:
    """Every way the two exchanges differ, one line each as ``what: ours | Tornado's``."""
    if ours.error or theirs.error:
        return [f"error: {ours.error or '-'} | {theirs.error or '-'}"]
    lines = []
    if len(ours.responses) != len(theirs.responses):
        lines.append(f"responses: {len(ours.responses)} | {len(theirs.responses)}")
    several = max(len(ours.responses), len(theirs.responses)) > 1
    for index, (mine, other) in enumerate(zip(ours.responses, theirs.responses, strict=False), 1):
        prefix = f"#{index} " if several else ""
        lines += [prefix + line for line in _response_differences(mine, other)]
    for extra in ours.responses[len(theirs.responses) :]:
        lines.append(f"only ours: {extra.status_line}")
    for extra in theirs.responses[len(ours.responses) :]:
        lines.append(f"only Tornado's: {extra.status_line}")
    if ours.unparsed != theirs.unparsed:
        lines.append(f"unparsed: {show(ours.unparsed)} | {show(theirs.unparsed)}")
    if ours.ending != theirs.ending:
        lines.append(f"connection: {ours.ending} | {theirs.ending}")
    return lines


def _response_differences(ours: Response, theirs: Response) -> list[str]:
    lines = []
    if ours.status_line != theirs.status_line:
        lines.append(f"status: {ours.status_line} | {theirs.status_line}")
    lines += _header_differences(_masked(ours.headers), _masked(theirs.headers))
    if ours.body != theirs.body:
        lines.append(f"body: {show(ours.body)} | {show(theirs.body)}")
    if ours.complete != theirs.complete:
        lines.append(f"cut short: {not ours.complete} | {not theirs.complete}")
    return lines


def _masked(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(name, MASKED.get(name.lower(), value)) for name, value in headers]


def _header_differences(ours: list[tuple[str, str]], theirs: list[tuple[str, str]]) -> list[str]:
    lines = []
    names = list(dict.fromkeys(name for name, _ in ours + theirs))
    for name in names:
        mine = [value for n, value in ours if n == name]
        other = [value for n, value in theirs if n == name]
        if mine == other:
            continue
        if not other:
            lines.append(f"header {name}: only ours ({_values(mine)})")
        elif not mine:
            lines.append(f"header {name}: only Tornado's ({_values(other)})")
        else:
            lines.append(f"header {name}: {_values(mine)} | {_values(other)}")
    # The same fields in another order: worth saying apart, Tornado's order is observable.
    if not lines and ours != theirs:
        lines.append(
            f"header order: {', '.join(n for n, _ in ours)} | {', '.join(n for n, _ in theirs)}"
        )
    return lines


def _values(values: list[str]) -> str:
    return ", ".join(repr(value) for value in values)


def show(data: bytes) -> str:
    """``data`` for a table cell: its length and its start."""
    text = repr(data[:SHOWN]) + ("..." if len(data) > SHOWN else "")
    return f"{len(data)} bytes {text}"
