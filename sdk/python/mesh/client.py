"""The Pythonic client: ``mesh.Client(address).session(id, target_inst=…)``.

>>> with mesh.Client("127.0.0.1:7304") as c:
...     s = c.session("job-1")
...     s.push("weights", b"hello")
...     s.pop("weights", timeout=5.0)
b'hello'

Timeouts are in seconds (floats). Payloads above the node's message limit
are split with the older Mesh client's convention (see README, "Large
payloads") and reassembled on pop and peek.
"""
from __future__ import annotations

import os
import re
import sys
import time
import uuid
from typing import BinaryIO, Dict, Iterable, List, Optional, Union

from ._wire import (H_MESSAGE_ID, H_SESSION, H_TARGET_INST, H_TARGET_NODE, H_TIMEOUT, H_TOKEN, H_TOPIC,
                    Body, Data, Progress, Reply, Wire, data_length, parse_addresses)
from .errors import TooLarge, error_for

#: The node's default --max-message; a push above it is split.
DEFAULT_MAX_MESSAGE = 128 << 20
#: Piece size of the older client's split convention.
SPLIT_CHUNK = 64 << 20
#: A split message's topics are f"{topic}{SPLIT_MARK}{i}"; i = 0 holds the count.
SPLIT_MARK = "-mesh-split-"
#: The node's pop wait when none is given (seconds).
DEFAULT_POP_WAIT = 120.0
DEFAULT_ADDRESS = "127.0.0.1:7304"
#: Largest push sent over gRPC (a gRPC message holds its payload whole); larger ones stream over HTTP.
GRPC_PUSH_MAX = 4 << 20

_TARGETS = (H_TARGET_NODE, H_TARGET_INST)
_LIMIT = re.compile(r"limit of (\d+) bytes")


def split_topic(topic: str, i: int) -> str:
    """The topic of piece i of a split message on topic (0: the count)."""
    return f"{topic}{SPLIT_MARK}{i}"


def default_address(argv: Optional[List[str]] = None) -> str:
    """The node address when none is given: ``--mesh.address`` in argv, else
    env ``MESH_ADDRESS``, else 127.0.0.1:7304."""
    args = sys.argv if argv is None else argv
    for i, a in enumerate(args):
        if a.startswith("--mesh.address="):
            return a.split("=", 1)[1]
        if a == "--mesh.address" and i + 1 < len(args):
            return args[i + 1]
    return os.environ.get("MESH_ADDRESS") or DEFAULT_ADDRESS


def _ms(seconds: float) -> str:
    # The node reads 0 as "its default wait" (120 s): never send 0 for "now".
    return str(max(1, int(seconds * 1000)))


class Client:
    """A connection to one Mesh node (the first of a comma-separated list that answers).

    address: ``host[:port]`` (default port 7304), ``http://…`` or ``https://…``;
    default from ``--mesh.address``/``MESH_ADDRESS``. token is sent as
    ``x-ptp-token`` (the token policy), bearer as ``Authorization: Bearer``
    (the node's container token). timeout bounds each call besides a pop's
    own wait. max_message is the node's --max-message; the client also
    learns it from a 413 reply. split_read=False stops pop and peek from
    looking for split messages (saves a call per empty pop slice).
    transport: "auto" (gRPC when grpcio and protobuf import, else HTTP),
    "http" (the standard library alone) or "grpc"; default from
    ``MESH_TRANSPORT``, else "auto". Over gRPC, file bodies, pushes above 4 MiB,
    ``into=`` pops and push_many still go over HTTP (they stream); gRPC
    metadata values must be ASCII.
    """

    def __init__(self, address: Optional[str] = None, token: Optional[str] = None, timeout: float = 30.0, *,
                 bearer: Optional[str] = None, max_message: int = DEFAULT_MAX_MESSAGE,
                 split_chunk: int = SPLIT_CHUNK, split_read: bool = True, ssl_context=None,
                 headers: Optional[Dict[str, str]] = None, transport: Optional[str] = None):
        extra = dict(headers or {})
        if token:
            extra[H_TOKEN] = token
        if bearer:
            extra["Authorization"] = f"Bearer {bearer}"
        transport = transport or os.environ.get("MESH_TRANSPORT", "") or "auto"
        if transport not in ("auto", "http", "grpc"):
            raise ValueError(f"transport {transport!r} is not auto, http or grpc")
        self.address = address or default_address()
        addresses = parse_addresses(self.address)
        self.wire = Wire(addresses, timeout, extra, ssl_context)
        self.calls = self.wire  # what small calls use: the gRPC wire when there is one
        self.transport = "http"
        if transport != "http":
            try:
                from ._grpc import GrpcWire
            except ImportError:
                if transport == "grpc":
                    raise
            else:
                self.calls = GrpcWire(addresses, timeout, extra, max_message, self.wire, ssl_context)
                self.transport = "grpc"
        self.timeout = timeout
        self.max_message, self.split_chunk, self.split_read = max_message, split_chunk, split_read

    def session(self, id: str, target_node: Optional[str] = None, target_inst: Optional[str] = None,
                metadata: Optional[Dict[str, str]] = None) -> "Session":
        """A session (no call is made). Pushes go to target_node/target_inst
        (empty: this node); pop, peek and release always read this node."""
        if not id:
            raise ValueError("a session needs an id")
        return Session(self, id, target_node, target_inst, metadata)

    def close(self) -> None:
        """Close the client's connections."""
        if self.calls is not self.wire:
            self.calls.close()
        self.wire.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _Counter:
    def __init__(self, sink: BinaryIO):
        self.sink, self.n = sink, 0

    def write(self, b) -> None:
        self.sink.write(b)
        self.n += len(b)


class Session:
    """One PTP session on a Client. As a context manager it releases the
    session on exit."""

    def __init__(self, client: Client, id: str, target_node: Optional[str], target_inst: Optional[str],
                 metadata: Optional[Dict[str, str]]):
        self.client, self.id = client, id
        self.metadata = {k.lower(): v for k, v in (metadata or {}).items() if v is not None}
        self.metadata.pop(H_SESSION, None)
        if target_node is not None:
            self.metadata[H_TARGET_NODE] = target_node
        if target_inst is not None:
            self.metadata[H_TARGET_INST] = target_inst

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def _headers(self, topic: Optional[str], target: bool, extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
        h = {k: v for k, v in self.metadata.items() if target or k not in _TARGETS}
        for k, v in (extra or {}).items():
            h[k.lower()] = v
        h[H_SESSION] = self.id
        if topic:
            h[H_TOPIC] = topic
        return h

    # push

    def push(self, topic: str, data: Data, metadata: Optional[Dict[str, str]] = None,
             progress: Optional[Progress] = None) -> str:
        """Push data (bytes, bytearray, memoryview or a binary file, sent from
        its position) to topic and return the message id. The body is
        streamed, never copied. Above the node's message limit the payload
        is split (older client's convention); progress(sent, total) is called
        as bytes go out."""
        if not topic:
            raise ValueError("push needs a topic")
        n = data_length(data)
        if n > self.client.max_message:
            return self._push_split(topic, data, n, metadata, progress)
        pos = data.tell() if hasattr(data, "tell") else 0
        try:
            wire = self.client.calls if n <= GRPC_PUSH_MAX and _is_bytes(data) else self.client.wire
            return self._push_one(topic, Body(data, 0, n, progress), metadata, wire)
        except TooLarge as e:
            m = _LIMIT.search(e.message)
            if not m or int(m.group(1)) >= n or not _rewind(data, pos):
                raise
            self.client.max_message = int(m.group(1))
            return self._push_split(topic, data, n, metadata, progress)

    def _push_one(self, topic: str, body: Body, metadata: Optional[Dict[str, str]], wire=None) -> str:
        mid = uuid.uuid4().hex
        h = self._headers(topic, True, metadata)
        h[H_MESSAGE_ID] = mid
        (wire or self.client.wire).call("push", h, body).raise_for_code()
        return mid

    def _push_split(self, topic: str, data: Data, n: int, metadata: Optional[Dict[str, str]],
                    progress: Optional[Progress]) -> str:
        chunk = max(1, min(self.client.split_chunk, self.client.max_message))
        count = max(1, -(-n // chunk))
        for i in range(1, count + 1):
            start = (i - 1) * chunk
            self._push_one(split_topic(topic, i), Body(data, start, min(chunk, n - start), progress, start, n),
                           metadata)
        # The count goes last: a reader sees the message only once it is whole.
        return self._push_one(split_topic(topic, 0), Body(str(count).encode()), metadata)

    def push_many(self, topic: str, items: Iterable[Union[bytes, bytearray, memoryview]], window: int = 4,
                  metadata: Optional[Dict[str, str]] = None) -> List[str]:
        """Push each item to topic with up to window pushes in flight on one
        connection (HTTP pipelining; the node stores them in order). Returns
        the message ids. The first failure raises once the pushes already
        sent are answered; the items before it are stored. Items above the
        message limit are refused with TooLarge: push() splits them."""
        ids: List[str] = []
        limit = self.client.max_message

        def calls():
            for item in items:
                n = data_length(item)
                if n > limit:
                    raise error_for("E0000000413", f"item {len(ids)} of {n} bytes is above max_message "
                                    f"{limit}; push it with push(), which splits it")
                mid = uuid.uuid4().hex
                ids.append(mid)
                h = self._headers(topic, True, metadata)
                h[H_MESSAGE_ID] = mid
                yield h, Body(item)

        self.client.wire.pipeline("push", calls(), window, lambda i, r: r.raise_for_code())
        return ids

    # pop, peek, release

    def pop(self, topic: str, timeout: float = DEFAULT_POP_WAIT, into: Optional[BinaryIO] = None):
        """Take the head of topic, waiting up to timeout seconds. Returns its
        bytes, or None when none came. With into (a binary file) the bytes
        are written there and the count is returned instead."""
        if not topic:
            raise ValueError("pop needs a topic")
        deadline = time.monotonic() + max(0.0, timeout)
        step = 0.1
        while True:
            left = max(0.0, deadline - time.monotonic())
            wait = min(left, step) if self.client.split_read else left
            sink = _Counter(into) if into is not None else None
            r = self._call("pop", topic, wait, sink)
            if r.found:
                return sink.n if sink is not None else r.body
            if self.client.split_read and self._call("peek", split_topic(topic, 0)).found:
                got = self._pop_split(topic, deadline, into)
                if got is not None:
                    return got
            if time.monotonic() >= deadline:
                return None
            step = min(step * 2, 2.0)

    def _pop_split(self, topic: str, deadline: float, into: Optional[BinaryIO]):
        head = self._call("pop", split_topic(topic, 0), 0.0)
        if not head.found:
            return None  # another reader took it
        count = _count(topic, head.body)
        parts: List[bytes] = []
        sink = _Counter(into) if into is not None else None
        for i in range(1, count + 1):
            wait = max(deadline - time.monotonic(), self.client.timeout)
            r = self._call("pop", split_topic(topic, i), wait, sink)
            if not r.found:
                raise error_for("E0000000601", f"split message on {topic!r}: piece {i} of {count} did not come")
            if sink is None:
                parts.append(r.body or b"")
        return sink.n if sink is not None else b"".join(parts)

    def peek(self, topic: str) -> Optional[bytes]:
        """The head of topic without removing it, or None when it is empty.
        A split message is read piece by piece (and left in place)."""
        r = self._call("peek", topic)
        if r.found:
            return r.body
        if not self.client.split_read:
            return None
        head = self._call("peek", split_topic(topic, 0))
        if not head.found:
            return None
        parts = []
        for i in range(1, _count(topic, head.body) + 1):
            p = self._call("peek", split_topic(topic, i))
            if not p.found:
                return None
            parts.append(p.body or b"")
        return b"".join(parts)

    def release(self, topic: Optional[str] = None) -> None:
        """Drop topic's messages, or (no topic) the whole session: it then
        answers SessionReleased to pushes and pops for the node's grace."""
        self._call("release", topic or None)

    def _call(self, method: str, topic: Optional[str], wait: float = 0.0, sink=None) -> Reply:
        h = self._headers(topic, False)
        if method == "pop":
            h[H_TIMEOUT] = _ms(wait)
        wire = self.client.wire if sink is not None else self.client.calls
        return wire.call(method, h, None, wait, sink).raise_for_code()


def _count(topic: str, body: Optional[bytes]) -> int:
    try:
        n = int((body or b"").decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        n = -1
    if n < 1:
        raise error_for("E0000000400", f"split message on {topic!r}: {split_topic(topic, 0)} holds "
                        f"{(body or b'')[:32]!r}, not a piece count")
    return n


def _is_bytes(data: Data) -> bool:
    return isinstance(data, (bytes, bytearray, memoryview))


def _rewind(data: Data, pos: int) -> bool:
    if isinstance(data, (bytes, bytearray, memoryview)):
        return True
    try:
        data.seek(pos)
        return True
    except (AttributeError, OSError):
        return False
