"""Service RPC through a Mesh node, the older Mesh client's ``@spi``/``@mpi``/``@mps`` API.

An interface is a class marked ``@spi("mesh")`` whose methods carry ``@mpi("mesh.trust.apply")``
names. A provider is a class implementing it, marked ``@mps``; :func:`start_providers` (what
``mesh.start()`` runs) serves every provider on a local HTTP port and registers each method's path
``/mesh-rpc/<name>`` with its node's service registry, renewing the registration until
:func:`stop_providers`. A consumer holds a :class:`Proxy` (``@mpi`` on a method or a field whose type
is the interface, or ``Proxy(Interface)``); each call is one HTTP POST to the consumer's own node,
which routes it to a provider of this institution, or to a woven partner's (``target(node_id)``).

The wire format is in docs/rpc.md. Standard library only.
"""

from __future__ import annotations

import atexit
import contextvars
import http.client
import inspect
import json
import logging
import os
import socket
import threading
import typing
import uuid
from typing import Any, Callable, Dict, List, Optional, Tuple

from .errors import OK, SystemError_, error_for

if typing.TYPE_CHECKING:
    from .rpc_server import RpcServer

__all__ = [
    "spi", "mpi", "mps", "SPI", "MPI", "MPS", "Proxy", "RpcServer",
    "start_providers", "stop_providers", "current_trace_id", "call", "RemoteError",
]

log = logging.getLogger("mesh.rpc")

#: Every RPC path is this prefix and the ``@mpi`` name.
PATH_PREFIX = "/mesh-rpc/"
#: The node a consumer or provider talks to when neither it nor ``MESH_ADDRESS`` names one.
DEFAULT_NODE = "127.0.0.1:7304"
#: The registration name every provider process registers its methods under.
REGISTRATION_NAME = "mesh-rpc"
#: Largest request body a provider reads, in bytes.
MAX_BODY = 64 << 20
#: Default per-call timeout of a consumer and per-attempt timeout of a provider's route, in ms
#: (the older client's default).
DEFAULT_TIMEOUT_MS = 10_000
#: Default validity of a provider's registration, in ms; it renews at a third of it.
DEFAULT_TTL_MS = 30_000

TRACE_HEADER = "x-ptp-trace-id"
TARGET_NODE_HEADER = "x-ptp-target-node-id"
TARGET_INST_HEADER = "x-ptp-target-inst-id"

# The PTP codes RPC answers or meets, with the HTTP status each travels with (the node's table).
BAD_REQUEST = "E0000000400"
NOT_FOUND = "E0000000404"
TOO_LARGE = "E0000000413"
SYSTEM_ERROR = "E0000000500"
TIMEOUT = "E0000000601"
NO_PROVIDER = "E0000000602"
UNREACHABLE = "E0000000607"
NOT_PERMITTED = "E0000000614"
NOT_WOVEN = "E0000000618"
_HTTP_STATUS = {OK: 200, BAD_REQUEST: 400, NOT_FOUND: 404, TOO_LARGE: 413, SYSTEM_ERROR: 500,
                TIMEOUT: 504, NO_PROVIDER: 501, UNREACHABLE: 502, NOT_PERMITTED: 403, NOT_WOVEN: 403}

_trace: contextvars.ContextVar[str] = contextvars.ContextVar("mesh_rpc_trace", default="")


def current_trace_id() -> str:
    """The ``x-ptp-trace-id`` of the call a provider method is serving ("" outside one)."""
    return _trace.get()


# --- errors -----------------------------------------------------------------------------------
# A failed call raises the PTPError of its code (mesh.errors: NotFound, NoProvider, NotPermitted,
# NotWoven, Timeout, NetworkUnreachable, BadRequest, ...); a provider's own failure RemoteError.


class RemoteError(SystemError_):
    """E0000000500 from the provider: its method raised. ``type`` is the exception's class name,
    ``message`` "Type: text"."""

    def __init__(self, code: str, message: str = "", status: int = 0, type: str = "") -> None:  # noqa: A002
        super().__init__(code, message, status)
        self.type = type


def _raise_reply(name: str, status: int, reply: Dict[str, Any]) -> None:
    """Raise the error of a reply: the provider's ``{"error"}`` or the node's ``{code, message}``."""
    err = reply.get("error")
    if isinstance(err, dict):
        code, msg = str(err.get("code") or SYSTEM_ERROR), str(err.get("message", ""))
        if code == SYSTEM_ERROR:
            raise RemoteError(code, f"{name}: {msg}", status, str(err.get("type", "")))
        raise error_for(code, f"{name}: {msg}", status)
    code = str(reply.get("code") or "")
    raise error_for(code if code and code != OK else SYSTEM_ERROR,
                    f"{name}: {reply.get('message', '') or f'HTTP {status}'}", status)


# --- declarations -----------------------------------------------------------------------------

class SPI:
    """What ``@spi`` records on an interface: its name (``kind.__spi__``)."""

    def __init__(self, name: str = "") -> None:
        self.name = name

    def __call__(self, kind: type) -> type:
        if not self.name:
            self.name = kind.__name__
        kind.__spi__ = self
        return kind


def spi(fn: Any = None, *, name: str = "", pattern: str = "", priority: int = 0, prototype: bool = False):
    """Mark a class as an interface: ``@spi``, ``@spi("mesh")`` or ``@spi(name="mesh")``.
    ``pattern``, ``priority`` and ``prototype`` are accepted for the older client's code."""
    if isinstance(fn, type):
        return SPI(name)(fn)
    return SPI(fn if isinstance(fn, str) else name)


class MPI:
    """``@mpi``. With a name it declares an interface method (``fn.__mpi__``); without one, on a
    method or field whose type is an interface, it is a reference: reading it gives a
    :class:`Proxy` (callable, so ``self.tokenizer()`` works as in the older client)."""

    def __init__(self, name: str = "", *, timeout: int = DEFAULT_TIMEOUT_MS, node: str = "",
                 inst: str = "", address: str = "", kind: Optional[type] = None) -> None:
        self.name, self.timeout, self.kind = name, timeout, kind
        self.node, self.inst, self.address = node, inst, address
        self.fn: Optional[Callable] = None
        self._owner: Optional[type] = None
        self._attr = ""
        self._proxy: Any = None  # a Proxy, or a Routable of one
        self._lock = threading.Lock()

    def __call__(self, fn: Callable):
        self.fn = fn
        if self.name:
            fn.__mpi__ = self
            return fn
        return self

    def __set_name__(self, owner: type, attr: str) -> None:
        self._owner, self._attr = owner, attr

    def __get__(self, obj: Any, owner: type = None):
        with self._lock:
            if self._proxy is None:
                kind = self._interface()
                origin, wrap = typing.get_origin(kind), None
                if getattr(origin, "__name__", "") == "Routable" and typing.get_args(kind):
                    kind, wrap = typing.get_args(kind)[0], origin.of  # -> Routable[Interface]
                if not isinstance(kind, type):
                    raise TypeError(f"@mpi reference {self._attr or getattr(self.fn, '__name__', '?')}: "
                                    f"annotate it with the interface it returns")
                proxy = Proxy(kind, address=self.address or None, timeout_ms=self.timeout,
                              target_node=self.node, target_inst=self.inst)
                self._proxy = wrap(proxy) if wrap else proxy
            return self._proxy

    def _interface(self) -> Any:
        """The referenced type: given, the method's return type, or the field's type."""
        if self.kind is not None:
            return self.kind
        if self.fn is not None:
            return typing.get_type_hints(self.fn).get("return")
        return typing.get_type_hints(self._owner).get(self._attr) if self._owner else None


def mpi(fn: Any = None, *, name: str = "", version: str = "", proto: str = "http", codec: str = "json",
        flags: int = 0, timeout: int = DEFAULT_TIMEOUT_MS, retries: int = 0, node: str = "", inst: str = "",
        zone: str = "", cluster: str = "", cell: str = "", group: str = "", address: str = ""):
    """``@mpi("mesh.trust.apply")`` names an interface method; bare ``@mpi`` (or ``mpi(Interface)``
    as a field) makes a reference whose value is a :class:`Proxy`. ``timeout`` (ms) bounds each
    call; ``node``/``inst`` target a woven partner; ``address`` picks the caller's node. The older
    client's other keywords are accepted and ignored."""
    if isinstance(fn, str):
        return MPI(fn, timeout=timeout, node=node, inst=inst, address=address)
    m = MPI(name, timeout=timeout, node=node, inst=inst, address=address,
            kind=fn if isinstance(fn, type) else None)
    return m(fn) if callable(fn) and not isinstance(fn, type) else m


class MPS:
    """What ``@mps`` records on a provider class (``kind.__mps__``)."""

    def __init__(self, name: str = "", exposed: Optional[bool] = None, flags: int = 0,
                 timeout: int = DEFAULT_TIMEOUT_MS, partners: str = "") -> None:
        self.name, self.flags, self.timeout, self.partners = name, flags, timeout, partners
        self._exposed = exposed

    @property
    def exposed(self) -> bool:
        """Reachable by partners: ``exposed=True``, ``flags`` bit 4 (communal), or
        ``MESH_RPC_EXPOSED=true`` when the class says neither."""
        if self._exposed is not None:
            return self._exposed
        return bool(self.flags & 4) or os.environ.get("MESH_RPC_EXPOSED", "").lower() in ("1", "true", "yes")

    def __call__(self, kind: type) -> type:
        if not self.name:
            self.name = kind.__name__
        kind.__mps__ = self
        if kind not in _providers:
            _providers.append(kind)
        return kind


_providers: List[type] = []


def mps(fn: Optional[type] = None, *, name: str = "", version: str = "", proto: str = "http",
        codec: str = "json", flags: int = 0, timeout: int = DEFAULT_TIMEOUT_MS,
        exposed: Optional[bool] = None, partners: str = ""):
    """Mark a provider class, served by ``mesh.start()``: ``@mps`` or ``@mps(exposed=True)``.
    ``flags=4`` (communal) also exposes it; ``partners`` narrows exposure to those node ids
    (comma-separated); ``timeout`` (ms) is the node's per-attempt timeout for its calls."""
    m = MPS(name, exposed, flags, timeout, partners)
    return m(fn) if fn is not None else m


def methods_of(kind: type) -> Dict[str, Tuple[str, Callable]]:
    """The ``@mpi`` methods of an interface (or a class implementing one): name → (attribute,
    declared function)."""
    out: Dict[str, Tuple[str, Callable]] = {}
    for klass in reversed(kind.__mro__):
        for attr, val in vars(klass).items():
            meta = getattr(val, "__mpi__", None)
            if isinstance(meta, MPI) and meta.name:
                out[meta.name] = (attr, val)
    return out


# --- consumer ---------------------------------------------------------------------------------

def node_address(address: Optional[str] = None) -> str:
    """The node to call: ``address``, else the first of ``MESH_ADDRESS`` (comma-separated), else
    127.0.0.1:7304. A scheme (http://) is dropped."""
    addr = address or os.environ.get("MESH_ADDRESS", "") or DEFAULT_NODE
    addr = addr.split(",")[0].strip()
    return addr.split("://", 1)[-1].rstrip("/")


def _split(addr: str) -> Tuple[str, int]:
    host, _, port = addr.rpartition(":")
    if not host or not port.isdigit():
        return addr, 7304
    return host.strip("[]"), int(port)


class Proxy:
    """A consumer's handle on an interface: ``Proxy(Tokenizer).apply("PERMIT", 60000)`` posts to
    ``/mesh-rpc/mesh.trust.apply`` on the caller's node. Routable: ``target``/``any`` reach a
    woven partner's provider, ``local`` this institution's, ``with_address`` another node of
    this institution; each returns a new proxy."""

    def __init__(self, interface: type, *, address: Optional[str] = None, timeout_ms: int = DEFAULT_TIMEOUT_MS,
                 target_node: str = "", target_inst: str = "", trace_id: str = "",
                 headers: Optional[Dict[str, str]] = None) -> None:
        self._interface = interface
        self._methods = methods_of(interface)
        if not self._methods:
            raise TypeError(f"{interface.__name__} declares no @mpi method")
        self._address, self._timeout_ms = address, timeout_ms
        self._target = (target_node, target_inst)
        self._trace_id, self._headers = trace_id, dict(headers or {})

    def _with(self, **changes: Any) -> "Proxy":
        p = Proxy.__new__(Proxy)
        p.__dict__.update(self.__dict__)
        for k, v in changes.items():
            setattr(p, "_" + k, v)
        return p

    def __call__(self) -> "Proxy":
        return self

    def target(self, node_id: str = "", inst_id: str = "") -> "Proxy":
        """Calls go to the provider of woven partner ``node_id`` (or institution ``inst_id``)."""
        return self._with(target=(node_id, inst_id))

    def any(self, principal: Any) -> "Proxy":
        """The older client's ``Routable.any``: a node id, or an object or dict with
        ``node_id``/``inst_id``."""
        if isinstance(principal, str):
            return self.target(principal)
        get = principal.get if isinstance(principal, dict) else lambda k, d="": getattr(principal, k, d)
        return self.target(get("node_id", "") or "", get("inst_id", "") or "")

    def local(self) -> "Proxy":
        """Calls go to this institution's providers."""
        return self.target()

    def with_address(self, address: str) -> "Proxy":
        """Calls go through the node at ``address`` (host:port)."""
        return self._with(address=address)

    def routed(self, address: Optional[str], principal: Optional[Dict[str, str]]) -> "Proxy":
        """What ``mesh.Routable`` calls: this proxy through the node at address (None: unchanged),
        targeted at principal (None: this institution)."""
        p = self if address is None else self.with_address(address)
        return p.local() if principal is None else p.any(principal)

    def with_timeout(self, timeout_ms: int) -> "Proxy":
        """Each call waits at most ``timeout_ms`` for its answer."""
        return self._with(timeout_ms=timeout_ms)

    def with_trace_id(self, trace_id: str) -> "Proxy":
        """Calls carry ``x-ptp-trace-id: trace_id`` (default: a new id per call)."""
        return self._with(trace_id=trace_id)

    def __getattr__(self, attr: str) -> Callable[..., Any]:
        if attr.startswith("_"):
            raise AttributeError(attr)
        for name, (a, fn) in self._methods.items():
            if a == attr:
                sig = inspect.signature(fn)
                return lambda *args, **kwargs: self.invoke(name, self._bind(sig, args, kwargs))
        raise AttributeError(f"{self._interface.__name__} has no @mpi method {attr}")

    @staticmethod
    def _bind(sig: inspect.Signature, args: tuple, kwargs: dict) -> Dict[str, Any]:
        bound = sig.bind(None, *args, **kwargs)  # None stands for self
        out = dict(bound.arguments)
        out.pop(next(iter(sig.parameters)), None)
        return out

    def invoke(self, name: str, args: Dict[str, Any]) -> Any:
        """Call ``name`` with named ``args``; the provider's result, or the PTPError of the failure."""
        return call(name, args, address=self._address, timeout_ms=self._timeout_ms,
                    target_node=self._target[0], target_inst=self._target[1],
                    trace_id=self._trace_id, headers=self._headers)


def call(name: str, args: Dict[str, Any], *, address: Optional[str] = None, timeout_ms: int = DEFAULT_TIMEOUT_MS,
         target_node: str = "", target_inst: str = "", trace_id: str = "",
         headers: Optional[Dict[str, str]] = None) -> Any:
    """One RPC: POST ``{"args": args}`` to ``/mesh-rpc/<name>`` on the caller's node."""
    body = json.dumps({"args": args}).encode()
    hdr = {"Content-Type": "application/json", "Accept": "application/json",
           TRACE_HEADER: trace_id or uuid.uuid4().hex}
    hdr.update(headers or {})
    if target_node:
        hdr[TARGET_NODE_HEADER] = target_node
    if target_inst:
        hdr[TARGET_INST_HEADER] = target_inst
    addr = node_address(address)
    host, port = _split(addr)
    conn = http.client.HTTPConnection(host, port, timeout=timeout_ms / 1000)
    try:
        conn.request("POST", PATH_PREFIX + name, body=body, headers=hdr)
        resp = conn.getresponse()
        status, data = resp.status, resp.read()
    except socket.timeout:
        raise error_for(TIMEOUT, f"{name}: no answer from node {addr} within {timeout_ms} ms") from None
    except OSError as e:
        raise error_for(UNREACHABLE, f"{name}: node {addr} cannot be reached: {e}") from None
    finally:
        conn.close()
    return _result(name, status, data)


def _result(name: str, status: int, data: bytes) -> Any:
    """The result of a reply, or its error raised."""
    try:
        reply = json.loads(data) if data else {}
    except ValueError:
        reply = None
    if not isinstance(reply, dict):
        raise error_for(SYSTEM_ERROR, f"{name}: HTTP {status} with a body that is not a JSON object: {data[:200]!r}",
                        status)
    if status == 200 and "result" in reply:
        return reply["result"]
    _raise_reply(name, status, reply)


# --- providers (the server: mesh/rpc_server.py) --------------------------------------------

_server: Optional["RpcServer"] = None
_server_lock = threading.Lock()
_atexit = False


def __getattr__(name: str) -> Any:
    """``mesh.rpc.RpcServer``: the provider's server, from mesh.rpc_server (imported on use)."""
    if name == "RpcServer":
        from .rpc_server import RpcServer
        return RpcServer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def start_providers(node: Optional[str] = None, **options: Any) -> Optional["RpcServer"]:
    """Serve one instance of every ``@mps`` class and register them (``mesh.start()``'s hook).
    Does nothing when there is none, or when already started. ``options`` go to :class:`RpcServer`.
    Stopped by :func:`stop_providers` or at exit."""
    global _server, _atexit
    with _server_lock:
        if _server is not None or not _providers:
            return _server
        from .rpc_server import RpcServer

        server = RpcServer(node, **options)
        for kind in _providers:
            server.add(kind(), kind.__mps__)
        _server = server.start()
        if not _atexit:
            atexit.register(stop_providers)
            _atexit = True
        return _server


def stop_providers() -> None:
    """Unregister and stop what :func:`start_providers` started (``mesh.stop()``'s hook)."""
    global _server
    with _server_lock:
        server, _server = _server, None
    if server is not None:
        server.stop()
