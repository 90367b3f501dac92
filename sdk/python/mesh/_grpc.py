"""gRPC transport: ``org.ppc.ptp.PrivateTransferTransport`` over grpcio.

Same interface as :class:`mesh._wire.Wire`'s ``call`` so sessions use either.
Needs ``grpcio`` and ``protobuf`` (Debian python3-grpcio, python3-protobuf);
importing this module without them raises ImportError. A gRPC message holds
its whole payload, so file bodies are read into memory for the call; the
client sends those, ``into=`` pops and ``push_many`` over HTTP instead.
"""
from __future__ import annotations

import ssl
from typing import BinaryIO, Dict, List, Optional

import grpc

from ._ptp import ptp_pb2, ptp_pb2_grpc
from ._wire import H_CODE, H_MESSAGE, H_TOPIC, Address, Body, Reply, Wire

_SKIP = {"accept", "content-type", "content-length", "host", H_TOPIC}
_SLACK = 1 << 20  # room for the metadata beside a max_message payload

# gRPC statuses for failures the node reports at the transport level.
_STATUS_CODES = {
    grpc.StatusCode.RESOURCE_EXHAUSTED: "E0000000413",
    grpc.StatusCode.DEADLINE_EXCEEDED: "E0000000601",
    grpc.StatusCode.INVALID_ARGUMENT: "E0000000400",
    grpc.StatusCode.PERMISSION_DENIED: "E0000000403",
    grpc.StatusCode.UNAUTHENTICATED: "E0000000403",
}


class GrpcWire:
    """Calls to one node over a gRPC channel (the first address; grpc
    reconnects by itself). Thread-safe."""

    def __init__(self, addresses: List[Address], timeout: float, headers: Dict[str, str], max_message: int,
                 http: Wire, ssl_context: Optional[ssl.SSLContext] = None):
        a = addresses[0]
        target = f"{a.host}:{a.port}"
        opts = [("grpc.max_send_message_length", max_message + _SLACK),
                ("grpc.max_receive_message_length", max_message + _SLACK)]
        if a.scheme == "https":
            self.channel = grpc.secure_channel(target, grpc.ssl_channel_credentials(), options=opts)
        else:
            self.channel = grpc.insecure_channel(target, options=opts)
        self.stub = ptp_pb2_grpc.PrivateTransferTransportStub(self.channel)
        self.timeout, self.headers, self.http = timeout, dict(headers), http
        self._closed = False

    def close(self) -> None:
        self._closed = True
        self.channel.close()

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
            out = getattr(self.stub, method)(req, metadata=md, timeout=self.timeout + wait)
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

    @staticmethod
    def _failed(e: "grpc.RpcError") -> Reply:
        status = e.code()  # type: ignore[attr-defined]
        if status == grpc.StatusCode.UNAVAILABLE:
            raise ConnectionError(f"no Mesh node answers over gRPC: {e.details()}")  # type: ignore[attr-defined]
        code = _STATUS_CODES.get(status, "E0000000500")
        return Reply(0, {H_CODE: code, H_MESSAGE: f"gRPC {status.name}: {e.details()}"}, None)  # type: ignore
