"""HTTP/1.1 transport to a Mesh node's container API, standard library only.

One keep-alive connection per thread and address; raw
``application/octet-stream`` bodies both ways, so payloads are never base64'd
or buffered twice; the PTP code comes back in ``x-ptp-code``. ``pipeline``
writes several requests on one connection before reading their replies
(HTTP/1.1 pipelining): the node answers them in order, so FIFO holds.
"""
from __future__ import annotations

import http.client
import io
import json
import os
import ssl
import threading
from collections import deque
from typing import Any, BinaryIO, Callable, Deque, Dict, Iterable, Iterator, List, Optional, Tuple, Union

from .errors import OK, code_of_status, error_for

DEFAULT_PORT = 7304
CHAN = "/v1/interconn/chan/"
OCTET = "application/octet-stream"
PIECE = 1 << 20  # bytes per socket write or read of a body

H_CODE = "x-ptp-code"
H_MESSAGE = "x-ptp-message"
H_MESSAGE_ID = "x-mesh-message-id"
H_SESSION = "x-ptp-session-id"
H_TOPIC = "x-ptp-topic"
H_TIMEOUT = "x-ptp-timeout"
H_TARGET_NODE = "x-ptp-target-node-id"
H_TARGET_INST = "x-ptp-target-inst-id"
H_TOKEN = "x-ptp-token"

Data = Union[bytes, bytearray, memoryview, BinaryIO]
Progress = Callable[[int, int], None]


class Address:
    """One node address: scheme (http or https), host and port."""

    def __init__(self, scheme: str, host: str, port: int):
        self.scheme, self.host, self.port = scheme, host, port

    def __repr__(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"


def parse_addresses(spec: str) -> List[Address]:
    """Parse ``host[:port][,host[:port]…]``; each may start with http:// or https://.

    A missing port is 7304. An empty spec is refused with ValueError.
    """
    out = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        scheme = "http"
        if "://" in part:
            scheme, part = part.split("://", 1)
            if scheme not in ("http", "https"):
                raise ValueError(f"address {part!r}: scheme {scheme!r} is not http or https")
        part = part.rstrip("/")
        host, port = part, DEFAULT_PORT
        if part.startswith("["):  # [v6]:port
            host, _, rest = part[1:].partition("]")
            if rest.startswith(":"):
                port = int(rest[1:])
        elif part.count(":") == 1:
            host, p = part.split(":")
            port = int(p)
        if not host or not 0 < port < 65536:
            raise ValueError(f"bad node address {part!r}")
        out.append(Address(scheme, host, port))
    if not out:
        raise ValueError("no node address given")
    return out


class Reply:
    """A node's answer: PTP code and message, the raw headers and body.

    ``found`` is whether a message came back (pop/peek): the node marks one
    with ``x-mesh-message-id``, so a 0-byte message differs from none.
    """

    def __init__(self, status: int, headers: Dict[str, str], body: Optional[bytes]):
        self.status, self.headers, self.body = status, headers, body
        self.code = headers.get(H_CODE, "")
        self.message = headers.get(H_MESSAGE, "")
        if not self.code:
            self._from_json()

    def _from_json(self) -> None:
        try:
            doc = json.loads(self.body or b"")
            self.code, self.message = doc["code"], doc.get("message", "")
        except (ValueError, KeyError, TypeError):
            self.code = code_of_status(self.status) or "E0000000500"
            self.message = f"HTTP {self.status}: {(self.body or b'')[:200]!r}"

    @property
    def message_id(self) -> Optional[str]:
        return self.headers.get(H_MESSAGE_ID)

    @property
    def found(self) -> bool:
        return self.message_id is not None

    def raise_for_code(self) -> "Reply":
        if self.code != OK:
            raise error_for(self.code, self.message, self.status)
        return self


def data_length(data: Data) -> int:
    """The byte length of a payload; for a file, what remains after its position."""
    if isinstance(data, (bytes, bytearray)):
        return len(data)
    if isinstance(data, memoryview):
        return data.nbytes
    try:
        return os.fstat(data.fileno()).st_size - data.tell()
    except (AttributeError, OSError, io.UnsupportedOperation):
        pos = data.tell()
        end = data.seek(0, io.SEEK_END)
        data.seek(pos)
        return end - pos


def pieces(data: Data, start: int, length: int) -> Iterator[Union[bytes, memoryview]]:
    """The bytes [start, start+length) of data in PIECE-sized views (bytes-like:
    no copy) or reads (file: read from its current position; start is ignored)."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        mv = memoryview(data).cast("B")
        for off in range(start, start + length, PIECE):
            yield mv[off:min(off + PIECE, start + length)]
        return
    left = length
    while left > 0:
        b = data.read(min(PIECE, left))
        if not b:
            raise EOFError(f"file ended {left} bytes before the {length} bytes it was to send")
        left -= len(b)
        yield b


class Body:
    """A request body: length bytes of data from start, with an optional progress
    callback that receives the bytes sent so far (plus base) and total."""

    def __init__(self, data: Data = b"", start: int = 0, length: Optional[int] = None,
                 progress: Optional[Progress] = None, base: int = 0, total: int = 0):
        self.data, self.start = data, start
        self.length = data_length(data) - start if length is None else length
        self.progress, self.base, self.total = progress, base, total or self.length

    def rewindable(self) -> bool:
        """Whether the body can be sent again (bytes-like or empty)."""
        return isinstance(self.data, (bytes, bytearray, memoryview)) or self.length == 0

    def pieces(self) -> Iterator[Union[bytes, memoryview]]:
        """The body in PIECE-sized parts, reporting progress as each is taken."""
        sent = 0
        for p in pieces(self.data, self.start, self.length):
            yield p
            sent += len(p)
            if self.progress:
                self.progress(self.base + sent, self.total)

    def send(self, write: Callable[[Any], Any]) -> None:
        for p in self.pieces():
            write(p)


class _NoClose:
    """A shared reader that http.client.HTTPResponse may "close" per reply."""

    def __init__(self, fp: Any):
        self._fp = fp

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fp, name)

    def close(self) -> None:
        pass


class _SockView:
    def __init__(self, fp: Any):
        self._fp = fp

    def makefile(self, *_: Any, **__: Any) -> Any:
        return self._fp


_RETRYABLE = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError, ConnectionAbortedError)


class Wire:
    """Calls to one node (the first of its addresses that answers).

    timeout is the socket timeout in seconds, added to a pop's own wait.
    headers are sent on every call (tokens). Thread-safe: each thread has
    its own connection.
    """

    def __init__(self, addresses: List[Address], timeout: float = 30.0,
                 headers: Optional[Dict[str, str]] = None, ssl_context: Optional[ssl.SSLContext] = None):
        self.addresses, self.timeout = addresses, timeout
        self.headers = dict(headers or {})
        self.ssl_context = ssl_context
        self._local = threading.local()
        self._lock = threading.Lock()
        self._conns: List[http.client.HTTPConnection] = []
        self._closed = False

    # connections

    def _new_conn(self, a: Address) -> http.client.HTTPConnection:
        if a.scheme == "https":
            ctx = self.ssl_context or ssl.create_default_context()
            return http.client.HTTPSConnection(a.host, a.port, timeout=self.timeout, context=ctx, blocksize=PIECE)
        return http.client.HTTPConnection(a.host, a.port, timeout=self.timeout, blocksize=PIECE)

    def _conn(self) -> Tuple[http.client.HTTPConnection, bool]:
        """This thread's connection and whether it was used before."""
        if self._closed:
            raise RuntimeError("the mesh client is closed")
        c = getattr(self._local, "conn", None)
        if c is not None:
            return c, True
        c = self._connect()
        with self._lock:
            self._conns.append(c)
        self._local.conn = c
        return c, False

    def _connect(self) -> http.client.HTTPConnection:
        """A new connection to the first address that accepts one."""
        last: Optional[OSError] = None
        for a in self.addresses:
            c = self._new_conn(a)
            try:
                c.connect()
                return c
            except OSError as e:
                last = e
        raise ConnectionError(f"no Mesh node answers at {self.addresses}: {last}") from last

    def _drop(self) -> None:
        c = getattr(self._local, "conn", None)
        self._local.conn = None
        if c is not None:
            c.close()
            with self._lock:
                if c in self._conns:
                    self._conns.remove(c)

    def close(self) -> None:
        """Close every connection this Wire opened (in any thread)."""
        with self._lock:
            self._closed = True
            conns, self._conns = self._conns, []
        for c in conns:
            c.close()

    # calls

    def call(self, method: str, headers: Dict[str, str], body: Optional[Body] = None,
             wait: float = 0.0, sink: Optional[BinaryIO] = None) -> Reply:
        """POST /v1/interconn/chan/<method> and return the node's reply.

        wait is how long the node may hold the call (a pop's timeout), in
        seconds. With sink the reply body is written there instead of kept.
        A stale keep-alive connection is replaced and the call tried again
        once; pushes carry an x-mesh-message-id, so a retry is stored once.
        """
        for attempt in (0, 1):
            c, reused = self._conn()
            c.timeout = self.timeout + wait
            if c.sock is not None:
                c.sock.settimeout(c.timeout)
            try:
                return self._exchange(c, method, headers, body, sink)
            except _RETRYABLE:
                self._drop()
                if not reused or attempt or (body is not None and not body.rewindable()):
                    raise
            except BaseException:
                self._drop()
                raise
        raise AssertionError("unreachable")

    def _exchange(self, c: http.client.HTTPConnection, method: str, headers: Dict[str, str],
                  body: Optional[Body], sink: Optional[BinaryIO]) -> Reply:
        c.putrequest("POST", CHAN + method, skip_accept_encoding=True)
        for k, v in self._headers(headers, body).items():
            c.putheader(k, v)
        c.endheaders()
        send_error: Optional[OSError] = None
        if body is not None:
            try:
                body.send(c.send)
            except OSError as e:  # the node may refuse early (413) and stop reading
                send_error = e
        try:
            resp = c.getresponse()
        except OSError:
            if send_error is not None:
                raise send_error
            raise
        try:
            reply = read_reply(resp, sink)
        except OSError as e:  # the node answered: never retried (a pop's message is taken)
            raise ConnectionError(f"connection lost while reading the reply to {method}: {e}") from e
        if resp.will_close or send_error is not None:
            self._drop()
        return reply

    def _headers(self, headers: Dict[str, str], body: Optional[Body]) -> Dict[str, Any]:
        h: Dict[str, Any] = {"Accept": OCTET, "Content-Type": OCTET}
        h.update(self.headers)
        for k, v in headers.items():
            h[k] = v.encode("utf-8") if isinstance(v, str) else v
        h["Content-Length"] = str(body.length if body is not None else 0)
        return h

    def pipeline(self, method: str, calls: Iterable[Tuple[Dict[str, str], Body]], window: int,
                 on_reply: Callable[[int, Reply], None]) -> int:
        """Send calls with up to window unanswered on one connection, handing
        each reply (in order) to on_reply; returns how many were sent. When
        the node closes the connection, the unanswered calls are sent again
        on a new one (bodies must be bytes-like; pushes carry message ids, so
        a resent push is stored once). If on_reply raises, the calls in
        flight are answered first, then it propagates."""
        return _Pipeline(self, method, max(1, window), on_reply).run(calls)


class _Pipeline:
    """One push_many: HTTP/1.1 pipelining over a connection of its own."""

    RECONNECTS = 3  # new connections in a row without a reply before giving up

    def __init__(self, wire: Wire, method: str, window: int, on_reply: Callable[[int, Reply], None]):
        self.wire, self.method, self.window, self.on_reply = wire, method, window, on_reply
        self.pending: Deque[Tuple[int, bytes, Body]] = deque()  # (index, head, body) sent, unanswered
        self.failure: Optional[BaseException] = None
        self.conn: Optional[http.client.HTTPConnection] = None
        self.reconnects = 0

    def run(self, calls: Iterable[Tuple[Dict[str, str], Body]]) -> int:
        n = 0
        try:
            self._open()
            for headers, body in calls:
                if self.failure is not None:
                    break
                self.pending.append((n, self._head(headers, body), body))
                n += 1
                self._guard(lambda: self._send(self.pending[-1]))
                while len(self.pending) >= self.window:
                    self._guard(self._read_one)
            while self.pending:
                self._guard(self._read_one)
        finally:
            self._close()
        if self.failure is not None:
            raise self.failure
        return n

    def _head(self, headers: Dict[str, str], body: Body) -> bytes:
        a = self.wire.addresses[0]
        lines = [f"POST {CHAN}{self.method} HTTP/1.1", f"Host: {a.host}:{a.port}"]
        for k, v in self.wire._headers(headers, body).items():
            lines.append(f"{k}: {v.decode('utf-8') if isinstance(v, bytes) else v}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")

    def _open(self) -> None:
        self.conn = self.wire._connect()
        self.fp = _NoClose(self.conn.sock.makefile("rb"))

    def _close(self) -> None:
        if self.conn is not None:
            self.fp._fp.close()
            self.conn.close()
            self.conn = None

    def _send(self, call: Tuple[int, bytes, Body]) -> None:
        self.conn.sock.sendall(call[1])
        call[2].send(self.conn.sock.sendall)

    def _read_one(self) -> None:
        resp = http.client.HTTPResponse(_SockView(self.fp), method="POST")  # type: ignore[arg-type]
        resp.begin()
        reply = read_reply(resp, None)
        i = self.pending.popleft()[0]
        self.reconnects = 0
        if self.failure is None:
            try:
                self.on_reply(i, reply)
            except BaseException as e:  # keep reading what is in flight
                self.failure = e
        if resp.will_close:
            self._resend()

    def _guard(self, step: Callable[[], None]) -> None:
        try:
            step()
        except (http.client.HTTPException, ConnectionError) as e:
            if isinstance(e, http.client.HTTPException) and not isinstance(e, http.client.RemoteDisconnected):
                raise
            self._resend()

    def _resend(self) -> None:
        """A new connection, and the unanswered calls sent on it again."""
        self._close()
        self.reconnects += 1
        if self.reconnects > self.RECONNECTS:
            raise ConnectionError(f"the node closed {self.RECONNECTS} connections in a row with "
                                  f"{len(self.pending)} calls unanswered")
        if any(not b.rewindable() for _, _, b in self.pending):
            raise ConnectionError("the node closed the connection; a file body cannot be sent again")
        self._open()
        for call in list(self.pending):
            self._guard(lambda: self._send(call))


def read_reply(resp: http.client.HTTPResponse, sink: Optional[BinaryIO]) -> Reply:
    headers = {k.lower(): v for k, v in resp.getheaders()}
    code = headers.get(H_CODE, "")
    if sink is not None and code == OK and H_MESSAGE_ID in headers:
        while True:
            b = resp.read(PIECE)
            if not b:
                break
            sink.write(b)
        return Reply(resp.status, headers, None)
    return Reply(resp.status, headers, resp.read())
