"""The older Mesh client's entry points, on top of :mod:`mesh.client`:
``mesh.start()``, ``Mesh.context()``, ``ServiceLoader`` and the "mesh"
``Transport`` with its sessions."""
from __future__ import annotations

import threading
import uuid
from typing import Any, Callable, Dict, List, Optional

from .client import DEFAULT_POP_WAIT, Client, Session as _Session
from .prsim import Metadata, Session, Transport

#: Functions mesh.start() calls, in order (the RPC module adds its server here).
_on_start: List[Callable[[], None]] = []
#: Functions mesh.stop() calls, in order.
_on_stop: List[Callable[[], None]] = []
_started = False
_start_lock = threading.Lock()


def start() -> None:
    """Start the client runtime: runs each ``mesh._on_start`` hook once per
    process (later calls do nothing). The transport needs no start; RPC
    providers (``@mps``) are served by their hook."""
    global _started
    with _start_lock:
        if _started:
            return
        for hook in list(_on_start):
            hook()
        _started = True


def stop() -> None:
    """Run each ``mesh._on_stop`` hook; start() may then run the start hooks again."""
    global _started
    with _start_lock:
        for hook in list(_on_stop):
            hook()
        _started = False


class Context:
    """The calling thread's context: a trace id, attachments and attributes."""

    def __init__(self) -> None:
        self._trace_id = ""
        self._attachments: Dict[str, str] = {}
        self._attributes: Dict[str, Any] = {}

    def get_trace_id(self) -> str:
        """This thread's trace id (32 hex digits, made on first use)."""
        if not self._trace_id:
            self._trace_id = uuid.uuid4().hex
        return self._trace_id

    def get_span_id(self) -> str:
        return "0"

    def get_attachments(self) -> Dict[str, str]:
        return self._attachments

    def get_attribute(self, key: str) -> Any:
        return self._attributes.get(key)

    def set_attribute(self, key: str, value: Any) -> None:
        self._attributes[key] = value


class Mesh:
    """``Mesh.context()``: the calling thread's :class:`Context`."""

    _local = threading.local()

    @staticmethod
    def context() -> Context:
        c = getattr(Mesh._local, "ctx", None)
        if c is None:
            c = Mesh._local.ctx = Context()
        return c


class ServiceLoader:
    """``ServiceLoader.load(Transport).get("mesh")``: the named implementation
    of an interface, made once per process."""

    _factories: Dict[type, Dict[str, Callable[[], Any]]] = {}
    _made: Dict[tuple, Any] = {}
    _lock = threading.Lock()

    def __init__(self, iface: type):
        self.iface = iface

    @classmethod
    def register(cls, iface: type, name: str, factory: Callable[[], Any]) -> None:
        cls._factories.setdefault(iface, {})[name] = factory

    @classmethod
    def load(cls, iface: type) -> "ServiceLoader":
        return cls(iface)

    def get(self, name: str) -> Any:
        factories = self._factories.get(self.iface, {})
        if name not in factories:
            raise KeyError(f"no {self.iface.__name__} named {name!r}; known: {sorted(factories)}")
        with self._lock:
            key = (self.iface, name)
            if key not in self._made:
                self._made[key] = factories[name]()
            return self._made[key]

    def get_default(self) -> Any:
        return self.get(next(iter(self._factories.get(self.iface, {"mesh": None}))))


class MeshTransport(Transport):
    """The "mesh" Transport: sessions at a Mesh node over HTTP. Route it with
    ``Routable.of(t).with_address(addr).local()``; without an address the
    node is ``--mesh.address``/``MESH_ADDRESS``/127.0.0.1:7304."""

    def __init__(self, address: Optional[str] = None, principal: Optional[Dict[str, str]] = None):
        self.address, self.principal = address, principal
        self._client: Optional[Client] = None
        self._sessions: Dict[str, "MeshSession"] = {}
        self._lock = threading.Lock()

    def routed(self, address: Optional[str], principal: Optional[Dict[str, str]]) -> "MeshTransport":
        return MeshTransport(address or self.address, principal)

    def client(self) -> Client:
        with self._lock:
            if self._client is None:
                self._client = Client(self.address)
            return self._client

    def open(self, session_id: str, metadata: Dict[str, str]) -> "MeshSession":
        md = {k.lower(): v for k, v in (metadata or {}).items() if v is not None}
        node = Metadata.MESH_TARGET_NODE_ID.get(md) or (self.principal or {}).get("node_id", "")
        inst = Metadata.MESH_TARGET_INST_ID.get(md) or (self.principal or {}).get("inst_id", "")
        key = f"{session_id}.{node}.{inst}"
        with self._lock:
            s = self._sessions.get(key)
        if s is None:
            inner = self.client().session(session_id, node or None, inst or None, md)
            s = MeshSession(inner, lambda: self._forget(key))
            with self._lock:
                self._sessions[key] = s
        return s

    def _forget(self, key: str) -> None:
        with self._lock:
            self._sessions.pop(key, None)

    def close(self, timeout: int = 0) -> None:
        """Release every session opened here, then close the connections."""
        with self._lock:
            sessions, self._sessions = list(self._sessions.values()), {}
        errors = []
        for s in sessions:
            try:
                s.inner.release()
            except Exception as e:  # release the others all the same
                errors.append(e)
        if self._client is not None:
            self._client.close()
            self._client = None
        if errors:
            raise errors[0]


class MeshSession(Session):
    """The older client's Session over a :class:`mesh.client.Session`
    (``inner``). Timeouts are in milliseconds, as that client has them."""

    def __init__(self, inner: _Session, forget: Callable[[], None]):
        self.inner, self._forget = inner, forget

    def push(self, payload: bytes, metadata: Dict[str, str], topic: str = "") -> None:
        self.inner.push(topic, payload, {k: v for k, v in (metadata or {}).items() if v is not None})

    def pop(self, timeout: int, topic: str = "") -> Optional[bytes]:
        return self.inner.pop(topic, timeout / 1000.0 if timeout and timeout > 0 else DEFAULT_POP_WAIT)

    def peek(self, topic: str = "") -> Optional[bytes]:
        return self.inner.peek(topic)

    def release(self, timeout: int = 0, topic: str = "") -> None:
        self.inner.release(topic or None)
        if not topic:
            self._forget()


ServiceLoader.register(Transport, Transport.MESH, MeshTransport)
