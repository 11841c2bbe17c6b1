"""Listening sockets: create them, and accept connections on them from the IOLoop.

Mirrors: tornado/netutil.py (Tornado 6.6)

Kept: ``bind_sockets`` (one non-blocking listening socket per address of the host, all on one
port), ``bind_unix_socket``, ``add_accept_handler`` (accept at most ``_DEFAULT_BACKLOG``
connections per wake-up, return a function that stops accepting; ours alone, pause for a
second when out of file descriptors), ``is_valid_ip`` and the ``_DEFAULT_BACKLOG`` constant.

TLS: ``ssl_options_to_context`` turns Tornado's options dict into an ``ssl.SSLContext``, and
``ssl_wrap_socket`` wraps a socket with one; ``TCPServer`` uses both.

Left out: the ``Resolver`` family
(``DefaultLoopResolver``, ``ThreadedResolver``, ``OverrideResolver``...: client-side DNS, used by
Tornado's ``TCPClient``); the tolerance for platforms without ``SO_REUSEADDR`` (GNU Hurd).

Study path (numbers from ``minitornado/__init__.py``): step 4 is ``bind_sockets``, step 6 is
``add_accept_handler``, and the accept handler it registers starts step 10. Over TLS, step T1
is ``ssl_options_to_context`` (from ``TCPServer``'s constructor) and step T2 is
``ssl_wrap_socket`` (inside step 10).
"""

import errno
import os
import socket
import ssl
import stat
import sys
from collections.abc import Callable, Iterator
from typing import Any

from minitornado.ioloop import IOLoop
from minitornado.log import gen_log

# The listen() backlog, and also how many connections one wake-up of the accept handler may
# accept (see add_accept_handler).
_DEFAULT_BACKLOG = 128  # Tornado: tornado/netutil.py::_DEFAULT_BACKLOG (same value)

# How long the accept handler pauses when the process is out of file descriptors.
# The precedent is asyncio's own accept loop, which waits constants.ACCEPT_RETRY_DELAY (1 s).
_ACCEPT_RETRY_DELAY = 1.0

# accept() errors that mean "this process or the system is out of resources", the same set
# asyncio treats that way (asyncio: selector_events.py::BaseSelectorEventLoop._accept_connection,
# CPython 3.11). The pending connection stays queued, so the socket stays readable.
_OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})

# What socket.getaddrinfo yields: (family, type, proto, canonname, sockaddr).
_AddrInfo = tuple[socket.AddressFamily, socket.SocketKind, int, str, tuple[Any, ...]]


# Tornado: tornado/netutil.py::bind_sockets                    (study path, step 4)
def bind_sockets(
    port: int,
    address: str | None = None,
    family: socket.AddressFamily = socket.AF_UNSPEC,
    backlog: int = _DEFAULT_BACKLOG,
    flags: int | None = None,
    reuse_port: bool = False,
) -> list[socket.socket]:
    """Create non-blocking listening sockets for every address of ``address`` on ``port``.

    ``address`` is an IP or a host name (one socket per address it resolves to); ``None`` or
    ``""`` means every interface (``0.0.0.0`` and ``::``). ``family`` narrows the lookup to
    ``AF_INET`` or ``AF_INET6``; ``flags`` are ``getaddrinfo``'s ``AI_*`` flags (default
    ``AI_PASSIVE``). With ``port=0`` the kernel picks a port for the first socket and the others
    reuse it. Each socket gets ``SO_REUSEADDR`` (not on Windows), ``SO_REUSEPORT`` if
    ``reuse_port`` (``ValueError`` where there is none), ``IPV6_V6ONLY`` if IPv6, and comes back
    listening with ``backlog``. The event loop is not touched: that is step 6.

    Compared with Tornado:
        Same: the lookup, the socket options, the shared port-0 port, and skipping ``::1`` for
        ``"localhost"`` when the host cannot bind IPv6 (EADDRNOTAVAIL, as in default Docker).
        Left out: tolerating ``ENOPROTOOPT`` from ``SO_REUSEADDR`` (GNU Hurd).
        Differs on purpose: a failed bind (say the port is in use) closes every socket made
        so far; Tornado leaves them to the garbage collector (and its ``ResourceWarning``).
    """
    if reuse_port and not hasattr(socket, "SO_REUSEPORT"):
        raise ValueError("the platform doesn't support SO_REUSEPORT")
    if address == "":
        address = None
    if family == socket.AF_UNSPEC and not socket.has_ipv6:
        # A Python built without IPv6 still gets AF_INET6 answers from getaddrinfo.
        family = socket.AF_INET
    sockets: list[socket.socket] = []
    bound_port: int | None = None
    try:
        for af, kind, proto, _, sockaddr in _passive_addresses(address, port, family, flags):
            sock = _new_listener_socket(af, kind, proto, reuse_port)
            if sock is None:
                continue
            sockets.append(sock)  # from now on, an error below closes it with the others
            if sockaddr[1] == 0 and bound_port is not None:
                # The kernel chose a port for the first family; ask for the same one here.
                sockaddr = (sockaddr[0], bound_port, *sockaddr[2:])
            if not _bind_or_skip(sock, sockaddr, address):
                sockets.pop()  # (_bind_or_skip closed it)
                continue
            bound_port = sock.getsockname()[1]
            sock.listen(backlog)
    except OSError:
        # A half-made server must not keep a port busy until the garbage collector runs.
        for sock in sockets:
            sock.close()
        raise
    return sockets


# --- bind_sockets, phase 1: which addresses ------------------------------------------------


def _passive_addresses(
    address: str | None, port: int, family: socket.AddressFamily, flags: int | None
) -> Iterator[_AddrInfo]:
    """Yield each distinct getaddrinfo answer for a listening socket, IPv4 before IPv6."""
    if flags is None:
        flags = socket.AI_PASSIVE
    answers = socket.getaddrinfo(address, port, family, socket.SOCK_STREAM, 0, flags)
    seen: set[_AddrInfo] = set()
    for info in sorted(answers, key=lambda answer: answer[0]):
        if info in seen:
            continue
        seen.add(info)
        af, sockaddr = info[0], info[4]
        if sys.platform == "darwin" and address == "localhost" and af == socket.AF_INET6:
            # macOS also resolves localhost to the link-local fe80::1%lo0 (a non-zero scope
            # id), and its firewall keeps asking the user whether to allow listening there.
            if sockaddr[3] != 0:
                continue
        yield info


# --- bind_sockets, phase 2: one socket with its options ------------------------------------


def _new_listener_socket(
    af: socket.AddressFamily, kind: socket.SocketKind, proto: int, reuse_port: bool
) -> socket.socket | None:
    """A non-blocking socket with the listener options, or None if the family is unsupported."""
    try:
        sock = socket.socket(af, kind, proto)
    except OSError as e:
        if e.errno == errno.EAFNOSUPPORT:
            return None
        raise
    try:
        _set_listener_options(sock, af, reuse_port)
    except BaseException:
        sock.close()  # (SO_REUSEPORT may be missing): no half-made socket is left open
        raise
    return sock


def _set_listener_options(sock: socket.socket, af: socket.AddressFamily, reuse_port: bool) -> None:
    if os.name != "nt":
        # Lets a restarted server bind while old connections sit in TIME_WAIT. Windows gives
        # this option a different, dangerous meaning (two live servers on one port).
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    if af == socket.AF_INET6:
        # Linux and macOS let an IPv6 socket on "::" take IPv4 clients too, by default, which
        # would collide with our separate IPv4 socket on 0.0.0.0; Windows and FreeBSD default
        # to v6-only. Saying it everywhere gives every system the same pair of sockets.
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    sock.setblocking(False)


# --- bind_sockets, phase 3: bind, tolerating one known failure -----------------------------


def _bind_or_skip(sock: socket.socket, sockaddr: tuple[Any, ...], address: str | None) -> bool:
    """Bind ``sock``; False (socket closed) if it is ``::1`` for localhost on an IPv4-only host."""
    try:
        sock.bind(sockaddr)
    except OSError as e:
        sock.close()
        # Some hosts (Docker's default network) can create IPv6 sockets and resolve localhost
        # to ::1, yet refuse to bind it. Only this exact case is skipped: EADDRNOTAVAIL
        # anywhere else is more likely a typo in the configured address.
        if e.errno == errno.EADDRNOTAVAIL and address == "localhost" and sockaddr[0] == "::1":
            return False
        raise
    return True


# Tornado: tornado/netutil.py::bind_unix_socket
def bind_unix_socket(
    file: str, mode: int = 0o600, backlog: int = _DEFAULT_BACKLOG
) -> socket.socket:
    """Create one non-blocking listening AF_UNIX socket at the path ``file``.

    A socket file left at ``file`` by an earlier run is removed first; any other kind of file
    there raises ``ValueError``. The new socket file gets the permissions ``mode``. A name
    starting with a NUL byte is a Linux abstract socket: it has no file, so neither applies.

    Compared with Tornado:
        Same: the stale-socket removal, the refusal, the chmod, abstract names.
        Left out: tolerating ``ENOPROTOOPT`` from ``SO_REUSEADDR`` (GNU Hurd).
        Differs on purpose: the path is checked before the socket is made, so a refusal
        leaves no socket behind (Tornado's waits for the garbage collector).
        Simplified: always defined (Tornado defines it only where ``socket.AF_UNIX`` exists;
        here calling it without AF_UNIX raises ``AttributeError``).
    """
    abstract = file.startswith("\0")
    if not abstract:
        _remove_stale_socket_file(file)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setblocking(False)
    sock.bind(file)
    if not abstract:
        os.chmod(file, mode)
    sock.listen(backlog)
    return sock


def _remove_stale_socket_file(file: str) -> None:
    """Delete ``file`` if it is a socket; refuse to touch any other kind of file."""
    try:
        st = os.stat(file)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise ValueError(f"File {file} exists and is not a socket")
    os.remove(file)


# Tornado: tornado/netutil.py::add_accept_handler              (study path, step 6)
def add_accept_handler(
    sock: socket.socket, callback: Callable[[socket.socket, Any], None]
) -> Callable[[], None]:
    """Call ``callback(connection, address)`` for each client that connects to ``sock``.

    Registers for READ on ``IOLoop.current()`` as it is now (for a server, when ``listen()``
    runs); whatever later runs that asyncio loop serves. One wake-up accepts at most
    ``_DEFAULT_BACKLOG`` (128) clients, so a flood cannot starve other callbacks. Returns a
    function that stops accepting at once, even mid-batch; calling it again does nothing.

    Compared with Tornado:
        Same: the per-wake-up cap, the remover, skipping ``ConnectionAbortedError``.
        Simplified: the "removed" flag is a ``nonlocal`` bool, not a one-item list.
        Differs on purpose: out of descriptors (EMFILE...), Tornado's handler raises and the
        still-readable socket wakes it at once, a traceback per turn at full CPU; ours logs
        once and pauses for a second (``_pause_accepting``; tests/test_fd_exhaustion.py).
    """
    io_loop = IOLoop.current()
    removed = False
    short = False  # out of descriptors since the queue was last drained (logged already)

    def accept_handler(fd: Any, events: int) -> None:
        nonlocal short
        for _ in range(_DEFAULT_BACKLOG):
            if removed:  # a callback in this batch stopped the server and closed sock
                return
            try:
                connection, address = sock.accept()
            except BlockingIOError:  # the queue is empty: wait for the next wake-up
                short = False
                return
            except ConnectionAbortedError:  # the client left while queued
                continue
            except OSError as e:
                if e.errno not in _OUT_OF_RESOURCES:
                    raise
                _pause_accepting(io_loop, sock, e, log=not short, resume=resume)
                short = True
                return
            callback(connection, address)

    def resume() -> None:
        if not removed:
            io_loop.add_handler(sock, accept_handler, IOLoop.READ)

    def remove_handler() -> None:
        nonlocal removed
        removed = True
        io_loop.remove_handler(sock)  # (a no-op if already removed, or paused)

    io_loop.add_handler(sock, accept_handler, IOLoop.READ)
    return remove_handler


def _pause_accepting(
    io_loop: IOLoop, sock: socket.socket, error: OSError, log: bool, resume: Callable[[], None]
) -> None:
    """Out of descriptors: stop watching ``sock``, and call ``resume()`` a second later.

    The client that could not be accepted stays queued, so the socket stays readable: without
    the pause the loop would call the accept handler again at once, for the same failure.
    ``_ACCEPT_RETRY_DELAY`` (1 s) is asyncio's own back-off for its servers. ``log`` is False
    while the same shortage goes on, so an episode logs one line, not one per retry.
    """
    if log:
        gen_log.error(
            "Cannot accept connections on %s (%s); retrying every %s s",
            sock.getsockname(),
            error,
            _ACCEPT_RETRY_DELAY,
        )
    io_loop.remove_handler(sock)
    io_loop.call_later(_ACCEPT_RETRY_DELAY, resume)


# Tornado: tornado/netutil.py::is_valid_ip
def is_valid_ip(ip: str) -> bool:
    """True if ``ip`` is a numeric IPv4 or IPv6 address (what the C resolver accepts as one).

    Compared with Tornado:
        Same: the answer comes from ``getaddrinfo(..., AI_NUMERICHOST)``, so the C library's
        liberal forms count too (``"127.1"`` is ``127.0.0.1``).
    """
    if not ip or "\x00" in ip:
        # getaddrinfo reads "" as localhost and stops at a NUL byte.
        return False
    try:
        socket.getaddrinfo(ip, 0, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, socket.AI_NUMERICHOST)
    except socket.gaierror as e:
        if e.args[0] == socket.EAI_NONAME:
            return False
        raise
    except UnicodeError:
        # The idna codec refuses labels over 63 characters before any lookup happens.
        return False
    return True


# Tornado: tornado/netutil.py::_SSL_CONTEXT_KEYWORDS
# The keys an ssl_options dict may have: the old ssl.wrap_socket() arguments.
_SSL_CONTEXT_KEYWORDS = frozenset(
    ["ssl_version", "certfile", "keyfile", "cert_reqs", "ca_certs", "ciphers"]
)


# Tornado: tornado/netutil.py::ssl_options_to_context        (study path, step T1)
def ssl_options_to_context(
    ssl_options: dict[str, Any] | ssl.SSLContext, server_side: bool | None = None
) -> ssl.SSLContext:
    """Return ``ssl_options`` as an ``ssl.SSLContext``: a context is returned unchanged.

    A dict uses the keys of ``_SSL_CONTEXT_KEYWORDS``: ``ssl_version`` picks the protocol
    (default ``PROTOCOL_TLS_SERVER`` for ``server_side=True``, ``PROTOCOL_TLS_CLIENT`` for
    False, the deprecated ``PROTOCOL_TLS`` for None); ``certfile`` and ``keyfile`` are loaded
    as the certificate chain; ``cert_reqs`` becomes ``verify_mode`` (``CERT_NONE`` also turns
    ``check_hostname`` off); ``ca_certs`` are the certificates to verify the peer against;
    ``ciphers`` is an OpenSSL cipher string. TLS compression is turned off (CRIME).
    A missing file raises ``FileNotFoundError``, a bad certificate or key ``ssl.SSLError``.

    Compared with Tornado:
        Same: the keys, the defaults, the order in which they apply.
        Differs on purpose: an unknown key raises ``ValueError`` naming it; Tornado
        ``assert``s, which ``python -O`` strips (tests/test_tls.py).
    """
    if isinstance(ssl_options, ssl.SSLContext):
        return ssl_options
    unknown = sorted(set(ssl_options) - _SSL_CONTEXT_KEYWORDS)
    if unknown:
        raise ValueError(
            f"unknown ssl_options key(s) {unknown}: expected {sorted(_SSL_CONTEXT_KEYWORDS)}"
        )
    if server_side is None:
        default_version = ssl.PROTOCOL_TLS  # deprecated: Python warns, as it does for Tornado
    elif server_side:
        default_version = ssl.PROTOCOL_TLS_SERVER
    else:
        default_version = ssl.PROTOCOL_TLS_CLIENT
    context = ssl.SSLContext(ssl_options.get("ssl_version", default_version))
    if "certfile" in ssl_options:
        context.load_cert_chain(ssl_options["certfile"], ssl_options.get("keyfile"))
    if "cert_reqs" in ssl_options:
        if ssl_options["cert_reqs"] == ssl.CERT_NONE:
            # A client context checks host names, and refuses CERT_NONE while it does.
            context.check_hostname = False
        context.verify_mode = ssl_options["cert_reqs"]
    if "ca_certs" in ssl_options:
        context.load_verify_locations(ssl_options["ca_certs"])
    if "ciphers" in ssl_options:
        context.set_ciphers(ssl_options["ciphers"])
    context.options |= ssl.OP_NO_COMPRESSION  # CRIME: compressed secrets leak their length
    return context


# Tornado: tornado/netutil.py::ssl_wrap_socket               (study path, step T2)
def ssl_wrap_socket(
    socket: socket.socket,
    ssl_options: dict[str, Any] | ssl.SSLContext,
    server_hostname: str | None = None,
    server_side: bool | None = None,
    **kwargs: Any,
) -> ssl.SSLSocket:
    """Wrap ``socket`` for TLS with ``ssl_options`` (a context, or a dict as above).

    ``kwargs`` go to ``SSLContext.wrap_socket``: a server passes
    ``do_handshake_on_connect=False``, so that the handshake is left to ``SSLIOStream``.

    Compared with Tornado:
        Same.
    """
    context = ssl_options_to_context(ssl_options, server_side=server_side)
    return context.wrap_socket(
        socket, server_hostname=server_hostname, server_side=bool(server_side), **kwargs
    )
