"""The older Mesh client's interfaces: ``Metadata``, ``Transport``, ``Session``
and ``Routable`` (import them from ``mesh`` or ``mesh.prsim``)."""
from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from typing import Any, Dict, Generic, Optional, TypeVar

T = TypeVar("T")


class Metadata(enum.Enum):
    """PTP headers by their older-client names; ``key()`` is the header name."""

    MESH_VERSION = "x-ptp-version"
    MESH_TECH_PROVIDER_CODE = "x-ptp-tech-provider-code"
    MESH_TRACE_ID = "x-ptp-trace-id"
    MESH_TOKEN = "x-ptp-token"
    MESH_URI = "x-ptp-uri"
    MESH_FROM_NODE_ID = "x-ptp-source-node-id"
    MESH_FROM_INST_ID = "x-ptp-source-inst-id"
    MESH_TARGET_NODE_ID = "x-ptp-target-node-id"
    MESH_TARGET_INST_ID = "x-ptp-target-inst-id"
    MESH_SESSION_ID = "x-ptp-session-id"
    MESH_TOPIC = "x-ptp-topic"
    MESH_TIMEOUT = "x-ptp-timeout"

    def key(self) -> str:
        return self.value

    def get(self, metadata: Optional[Dict[str, str]]) -> str:
        """This header's value in metadata (any case), '' when absent."""
        for k, v in (metadata or {}).items():
            if k.lower() == self.value:
                return v or ""
        return ""

    def set(self, metadata: Dict[str, str], value: str) -> None:
        metadata[self.value] = value


class Session(ABC):
    """A session's queues at the node (older client's interface)."""

    @abstractmethod
    def peek(self, topic: str = "") -> Optional[bytes]:
        """The head of topic without removing it, or None."""

    @abstractmethod
    def pop(self, timeout: int, topic: str = "") -> Optional[bytes]:
        """Take the head of topic, waiting up to timeout ms; None if none came."""

    @abstractmethod
    def push(self, payload: bytes, metadata: Dict[str, str], topic: str = "") -> None:
        """Push payload to topic at the session's target."""

    @abstractmethod
    def release(self, timeout: int, topic: str = "") -> None:
        """Drop topic, or the whole session when topic is ''."""


class Transport(ABC):
    """Opens sessions (older client's interface). Get the Mesh one with
    ``ServiceLoader.load(Transport).get("mesh")``."""

    MESH = "mesh"
    GRPC = "grpc"

    @abstractmethod
    def open(self, session_id: str, metadata: Dict[str, str]) -> Session:
        """A session; makes no call."""

    @abstractmethod
    def close(self, timeout: int = 0) -> None:
        """Release every session this transport opened."""

    def roundtrip(self, payload: bytes, metadata: Dict[str, str]) -> bytes:
        raise NotImplementedError("roundtrip is not supported by Mesh")


class Routable(Generic[T]):
    """Picks where a service's calls go: ``Routable.of(x).with_address(a).local()``.

    The service must offer ``routed(address, principal)`` returning a view
    of itself bound to that node address and target principal.
    """

    def __init__(self, service: T, address: Optional[str] = None, principal: Optional[Dict[str, str]] = None):
        self._service, self._address, self._principal = service, address, principal

    @staticmethod
    def of(service: T) -> "Routable[T]":
        return Routable(service)

    def with_address(self, address: str) -> "Routable[T]":
        """Route calls to the node at address (host[:port], comma-separated)."""
        return Routable(self._service, address, self._principal)

    def local(self) -> T:
        """The service as seen from this institution (no principal rewriting)."""
        return self._routed(None)

    def any(self, principal: Any) -> T:
        """The service with calls targeted at principal: a dict or object
        with node_id and/or inst_id."""
        get = principal.get if isinstance(principal, dict) else lambda k, d=None: getattr(principal, k, d)
        return self._routed({"node_id": get("node_id", "") or "", "inst_id": get("inst_id", "") or ""})

    def _routed(self, principal: Optional[Dict[str, str]]) -> T:
        routed = getattr(self._service, "routed", None)
        if routed is None:
            raise TypeError(f"{type(self._service).__name__} cannot be routed")
        return routed(self._address, principal)
