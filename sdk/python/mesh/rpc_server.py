"""The provider side of service RPC: :class:`RpcServer` serves provider objects on a local HTTP
port and keeps their ``@mpi`` methods registered with a node (docs/rpc.md). ``mesh.start()``
uses it through :func:`mesh.rpc.start_providers`."""

from __future__ import annotations

import http.client
import http.server
import inspect
import json
import os
import threading
from typing import Any, Callable, Dict, List, Optional, Tuple

from .errors import OK, PTPError, error_for
from .rpc import (BAD_REQUEST, DEFAULT_TTL_MS, MAX_BODY, MPS, NOT_FOUND, PATH_PREFIX, REGISTRATION_NAME,
                  SYSTEM_ERROR, TOO_LARGE, TRACE_HEADER, UNREACHABLE, _HTTP_STATUS, _split, _trace, log,
                  methods_of, node_address)

__all__ = ["RpcServer"]


class _Handler(http.server.BaseHTTPRequestHandler):
    server: "_HTTPServer"
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt: str, *args: Any) -> None:
        log.debug("%s " + fmt, self.address_string(), *args)

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        trace = self.headers.get(TRACE_HEADER, "")
        try:
            name, args = self._request()
            method = self.server.rpc.method(name)
            token = _trace.set(trace)
            try:
                result = method(**args)
            except TypeError as e:
                if _binds(method, args):
                    raise
                raise error_for(BAD_REQUEST, f"{name}: arguments {sorted(args)} do not fit: {e}") from None
            finally:
                _trace.reset(token)
            self._send(200, {"result": result}, trace)
        except PTPError as e:  # refused here, or the method chose its code
            self._send(_HTTP_STATUS.get(e.code, 500), {"error": {"code": e.code, "message": e.message,
                                                                 "type": type(e).__name__}}, trace)
        except Exception as e:  # the provider's own failure: the consumer sees its type and message
            log.warning("rpc %s raised %s: %s", self.path, type(e).__name__, e)
            self._send(500, {"error": {"code": SYSTEM_ERROR, "message": f"{type(e).__name__}: {e}",
                                       "type": type(e).__name__}}, trace)

    def _request(self) -> Tuple[str, Dict[str, Any]]:
        """The method name and the arguments of the request, or a BadRequest/NotFound."""
        length = self.headers.get("Content-Length") or "0"
        if not length.isdigit():
            self.close_connection = True
            raise error_for(BAD_REQUEST, f"Content-Length {length!r} is not a number of bytes")
        size = int(length)
        if size > MAX_BODY:
            self.close_connection = True  # the body stays unread
            raise error_for(TOO_LARGE, f"body of {size} bytes exceeds {MAX_BODY}")
        data = self.rfile.read(size)
        if not self.path.startswith(PATH_PREFIX):
            raise error_for(NOT_FOUND, f"{self.path} is not an RPC path ({PATH_PREFIX}<name>)")
        try:
            body = json.loads(data or b"{}")
        except ValueError as e:
            raise error_for(BAD_REQUEST, f"body is not JSON: {e}") from None
        args = body.get("args", {}) if isinstance(body, dict) else None
        if not isinstance(args, dict):
            raise error_for(BAD_REQUEST, 'body must be {"args": {name: value, ...}}')
        return self.path[len(PATH_PREFIX):].split("?", 1)[0], args

    def _send(self, status: int, reply: Dict[str, Any], trace: str) -> None:
        try:
            data = json.dumps(reply).encode()
        except (TypeError, ValueError) as e:
            status, data = 500, json.dumps({"error": {"code": SYSTEM_ERROR, "type": "TypeError",
                                                      "message": f"result is not JSON: {e}"}}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if trace:
            self.send_header(TRACE_HEADER, trace)
        self.end_headers()
        self.wfile.write(data)


def _binds(method: Callable, args: Dict[str, Any]) -> bool:
    """Whether args fit method's signature (so a TypeError came from inside it)."""
    try:
        inspect.signature(method).bind(**args)
        return True
    except TypeError:
        return False


class _HTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    rpc: "RpcServer"


class RpcServer:
    """Serves provider objects on a local HTTP port and keeps their methods registered with a
    node: ``start()`` registers and renews every ``ttl_ms / 3``; ``stop()`` unregisters.

    ``node``: the node's address (default ``MESH_ADDRESS``); ``bind``: host:port to listen on
    (default ``MESH_RPC_BIND`` or 127.0.0.1:0); ``advertise``: the address the node dials (default
    ``MESH_RPC_ADVERTISE`` or the bound one); ``token``: an admin bearer token for the node's
    registry endpoints (default ``MESH_ADMIN_TOKEN``), needed when the provider is not on the
    node's loopback."""

    def __init__(self, node: Optional[str] = None, *, bind: Optional[str] = None, advertise: Optional[str] = None,
                 ttl_ms: int = DEFAULT_TTL_MS, token: Optional[str] = None) -> None:
        self.node = node_address(node)
        self._bind = bind or os.environ.get("MESH_RPC_BIND") or "127.0.0.1:0"
        self._advertise = advertise or os.environ.get("MESH_RPC_ADVERTISE", "")
        self.ttl_ms, self._token = ttl_ms, token if token is not None else os.environ.get("MESH_ADMIN_TOKEN", "")
        self._methods: Dict[str, Tuple[Callable, MPS]] = {}
        self._httpd: Optional[_HTTPServer] = None
        self._threads: List[threading.Thread] = []
        self._quit = threading.Event()
        self.address = ""

    def add(self, provider: Any, meta: Optional[MPS] = None) -> "RpcServer":
        """Serve every ``@mpi`` method of provider (an instance) under its name."""
        meta = meta or getattr(type(provider), "__mps__", None) or MPS()
        for name, (attr, _) in methods_of(type(provider)).items():
            self._methods[name] = (getattr(provider, attr), meta)
        return self

    def method(self, name: str) -> Callable:
        """The bound method serving name, or NotFound."""
        if name not in self._methods:
            raise error_for(NOT_FOUND, f"this provider has no method {name}")
        return self._methods[name][0]

    def registration(self) -> Dict[str, Any]:
        """The register body (the node's registry JSON) for every method served."""
        services = []
        for name, (_, meta) in sorted(self._methods.items()):
            attrs = {"exposed": "true"} if meta.exposed else {}
            if meta.exposed and meta.partners:
                attrs["partners"] = meta.partners
            services.append({"urn": PATH_PREFIX + name, "kind": "Restful", "proto": "http", "codec": "json",
                             "name": name, "timeout": meta.timeout, "address": self.address,
                             "lang": "Python3", "attrs": attrs})
        return {"name": REGISTRATION_NAME, "kind": "complex", "address": self.address,
                "instance_id": self.address, "timestamp": self.ttl_ms, "content": {"services": services}}

    def start(self) -> "RpcServer":
        """Listen, register with the node (raising its error), and start renewing."""
        if not self._methods:
            raise ValueError("no @mpi method to serve")
        host, port = _split(self._bind)
        self._httpd = _HTTPServer((host, port), _Handler)
        self._httpd.rpc = self
        bound = self._httpd.server_address
        self.address = self._advertise or f"{bound[0]}:{bound[1]}"
        self._go(self._httpd.serve_forever, "mesh-rpc-serve")
        try:
            self.register()
        except Exception:
            self._close()
            raise
        self._go(self._heartbeat, "mesh-rpc-heartbeat")
        return self

    def _go(self, fn: Callable[[], None], name: str) -> None:
        t = threading.Thread(target=fn, name=name, daemon=True)
        t.start()
        self._threads.append(t)

    def register(self) -> None:
        """Register (or renew) every method with the node."""
        self._control("/v1/interconn/registry/register", self.registration())

    def _heartbeat(self) -> None:
        while not self._quit.wait(self.ttl_ms / 3000):
            try:
                self.register()
            except Exception as e:  # the node may be restarting: try again next beat
                log.warning("renewing the rpc registration with %s: %s", self.node, e)

    def stop(self, unregister: bool = True) -> None:
        """Stop renewing, unregister (unless told not to), and stop serving."""
        self._quit.set()
        for t in self._threads:
            if t.name == "mesh-rpc-heartbeat":
                t.join()
        if unregister and self.address:
            try:
                self._control("/v1/interconn/registry/unregister",
                              {"name": REGISTRATION_NAME, "instance_id": self.address})
            except Exception as e:
                log.warning("unregistering rpc providers from %s: %s", self.node, e)
        self._close()

    def _close(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        for t in self._threads:
            t.join()
        self._threads = []

    def _control(self, path: str, body: Dict[str, Any]) -> Any:
        hdr = {"Content-Type": "application/json"}
        if self._token:
            hdr["Authorization"] = "Bearer " + self._token
        host, port = _split(self.node)
        conn = http.client.HTTPConnection(host, port, timeout=10)
        try:
            conn.request("POST", path, body=json.dumps(body).encode(), headers=hdr)
            resp = conn.getresponse()
            status, data = resp.status, resp.read()
        except OSError as e:
            raise error_for(UNREACHABLE, f"{path} on node {self.node}: {e}") from None
        finally:
            conn.close()
        try:
            reply = json.loads(data)
        except ValueError:
            reply = {}
        code = reply.get("code", "") if isinstance(reply, dict) else ""
        if code != OK:
            raise error_for(code or SYSTEM_ERROR, f"{path} on node {self.node}: HTTP {status} {data[:300]!r}")
        return reply.get("content")
