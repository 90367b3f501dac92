"""gRPC transport: ``org.ppc.ptp.PrivateTransferTransport`` over grpcio.

Same interface as :class:`mesh._wire.Wire`'s ``call`` so sessions use either.
Needs ``grpcio`` and ``protobuf`` (Debian python3-grpcio, python3-protobuf);
importing this module without them raises ImportError. A gRPC message holds
its whole payload, so file bodies are read into memory for the call; the
client sends those, ``into=`` pops and ``push_many`` over HTTP instead.
"""
from __future__ import annotations

import atexit
import ssl
import threading
import weakref
from typing import BinaryIO, Dict, List, Optional

import grpc

from ._ptp import ptp_pb2, ptp_pb2_grpc
from ._wire import H_CODE, H_MESSAGE, H_TOPIC, Address, Body, Reply, Wire

_SKIP = {"accept", "content-type", "content-length", "host", H_TOPIC}
_SLACK = 1 << 20  # room for the metadata beside a max_message payload
_CONNECT = 5.0  # longest wait for one address's channel to connect


# Wires not closed yet. grpcio's Channel.__del__ can wait forever when it
# runs during interpreter shutdown (a program that never closes its
# transport, as the older client's examples do): close them at exit instead.
_open: "weakref.WeakSet[GrpcWire]" = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for w in list(_open):
        w.close()


def _connects(channel: grpc.Channel, timeout: float) -> bool:
    """Whether channel connects within timeout; False as soon as it fails
    (a refused port, a server that does not speak HTTP/2)."""
    done, result = threading.Event(), []

    def seen(state: grpc.ChannelConnectivity) -> None:
        if state in (grpc.ChannelConnectivity.READY, grpc.ChannelConnectivity.TRANSIENT_FAILURE,
                     grpc.ChannelConnectivity.SHUTDOWN) and not done.is_set():
            result.append(state)
            done.set()

    channel.subscribe(seen, try_to_connect=True)
    try:
        done.wait(timeout)
    finally:
        channel.unsubscribe(seen)
    return result[:1] == [grpc.ChannelConnectivity.READY]

# gRPC statuses for failures the node reports at the transport level.
_STATUS_CODES = {
    grpc.StatusCode.RESOURCE_EXHAUSTED: "E0000000413",
    grpc.StatusCode.DEADLINE_EXCEEDED: "E0000000601",
    grpc.StatusCode.INVALID_ARGUMENT: "E0000000400",
    grpc.StatusCode.PERMISSION_DENIED: "E0000000403",
    grpc.StatusCode.UNAUTHENTICATED: "E0000000403",
}


class GrpcWire:
    """Calls to one node over a gRPC channel: the first of its addresses
    whose channel connects, kept while calls succeed and chosen again after
    a connection failure (as the HTTP wire fails over). Thread-safe."""

    def __init__(self, addresses: List[Address], timeout: float, headers: Dict[str, str], max_message: int,
                 http: Wire, ssl_context: Optional[ssl.SSLContext] = None):
        self.addresses = addresses
        self._opts = [("grpc.max_send_message_length", max_message + _SLACK),
                      ("grpc.max_receive_message_length", max_message + _SLACK)]
        self._channels: Dict[int, grpc.Channel] = {}
        self._current: Optional[int] = None  # index of the address in use; None: choose
        self._lock = threading.Lock()
        self.timeout, self.headers, self.http = timeout, dict(headers), http
        self._closed = False
        _open.add(self)

    def close(self) -> None:
        self._closed = True
        with self._lock:
            for ch in self._channels.values():
                ch.close()
            self._channels.clear()

    def _channel(self, i: int) -> grpc.Channel:
        if i not in self._channels:
            a = self.addresses[i]
            target = f"{a.host}:{a.port}"
            if a.scheme == "https":
                self._channels[i] = grpc.secure_channel(target, grpc.ssl_channel_credentials(), options=self._opts)
            else:
                self._channels[i] = grpc.insecure_channel(target, options=self._opts)
        return self._channels[i]

    def _stub(self) -> ptp_pb2_grpc.PrivateTransferTransportStub:
        """The stub on the address in use, choosing one when there is none:
        the first, in the given order, whose channel connects."""
        with self._lock:
            if self._current is not None:
                return ptp_pb2_grpc.PrivateTransferTransportStub(self._channel(self._current))
            for i in range(len(self.addresses)):
                if _connects(self._channel(i), min(self.timeout, _CONNECT)):
                    self._current = i
                    return ptp_pb2_grpc.PrivateTransferTransportStub(self._channels[i])
        raise ConnectionError(f"no Mesh node answers over gRPC at {self.addresses}")

    def _lost(self) -> None:
        """The address in use failed: the next call chooses again."""
        with self._lock:
            self._current = None

    def call(self, method: str, headers: Dict[str, str], body: Optional[Body] = None, wait: float = 0.0,
             sink: Optional[BinaryIO] = None) -> Reply:
        if self._closed:
            raise RuntimeError("the mesh client is closed")
        merged = {**self.headers, **headers}
        topic = merged.get(H_TOPIC, "")
        md = [(k.lower(), v) for k, v in merged.items() if k.lower() not in _SKIP]
        ms = int(merged.get("x-ptp-timeout", "0"))
        if method == "push":
            data = b"".join(bytes(p) for p in body.pieces()) if body is not None else b""
            req = ptp_pb2.PushInbound(topic=topic, payload=data)
        elif method == "pop":
            req = ptp_pb2.PopInbound(topic=topic, timeout=ms)
        elif method == "peek":
            req = ptp_pb2.PeekInbound(topic=topic)
        else:
            req = ptp_pb2.ReleaseInbound(topic=topic)
        try:
            out = self._invoke(method, req, md, wait)
        except grpc.RpcError as e:
            if method == "push" and e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:  # type: ignore[attr-defined]
                # Over the node's limit: HTTP's 413 names the limit, so the client can split.
                return self.http.call(method, headers, body, wait, sink)
            return self._failed(e)
        h = {k.lower(): v for k, v in out.metadata.items()}
        h[H_CODE], h[H_MESSAGE] = out.code, out.message
        reply = Reply(0, h, out.payload)  # status: HTTP's; none over gRPC
        if sink is not None and reply.found and reply.code == "E0000000000":
            sink.write(out.payload)
            reply.body = None
        return reply

    def _invoke(self, method: str, req, md, wait: float):
        """One call; a connection failure makes the next call choose an
        address again, and a push (it carries a message id, so the node
        stores it once) is sent again there."""
        try:
            return getattr(self._stub(), method)(req, metadata=md, timeout=self.timeout + wait)
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.UNAVAILABLE:  # type: ignore[attr-defined]
                raise
            self._lost()
            if method != "push":
                raise
        return getattr(self._stub(), method)(req, metadata=md, timeout=self.timeout + wait)

    @staticmethod
    def _failed(e: "grpc.RpcError") -> Reply:
        status = e.code()  # type: ignore[attr-defined]
        if status == grpc.StatusCode.UNAVAILABLE:
            raise ConnectionError(f"no Mesh node answers over gRPC: {e.details()}")  # type: ignore[attr-defined]
        code = _STATUS_CODES.get(status, "E0000000500")
        return Reply(0, {H_CODE: code, H_MESSAGE: f"gRPC {status.name}: {e.details()}"}, None)  # type: ignore
