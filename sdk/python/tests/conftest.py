"""Real Mesh nodes for the SDK tests.

The mesh binary is built once per test session (``go build``; or set
``MESH_BIN`` to a built one). Each node runs ``mesh start --listen
127.0.0.1:0`` in a temporary home and is stopped after the session. Every
wait is a bounded poll.
"""
from __future__ import annotations

import http.server
import json
import os
import pathlib
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from typing import Any, Callable, Dict, List, Optional

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
SDK = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(SDK))  # the package under test, installed or not

START_LIMIT = 60.0  # seconds a node may take to serve
WEAVE_LIMIT = 30.0


def wait_for(what: str, cond: Callable[[], Any], limit: float = 30.0, step: float = 0.05) -> Any:
    """Poll cond until it returns a true value (returned) or limit seconds pass."""
    deadline = time.monotonic() + limit
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {limit} s waiting for {what}")
        time.sleep(step)


class Node:
    """One running mesh node: addr is host:port, url its http:// base."""

    def __init__(self, binary: str, *args: str):
        self.home = tempfile.mkdtemp(prefix="mesh-py-")
        self.log_path = os.path.join(self.home, "node.log")
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([binary, "start", "--listen", "127.0.0.1:0", "--home", self.home, *args],
                                     stdout=self._log, stderr=subprocess.STDOUT)
        self.addr = wait_for("the node to log listen=", self._listen, START_LIMIT)
        self.url = "http://" + self.addr
        self.node_id = self.inst_id = ""

    def _listen(self) -> Optional[str]:
        if self.proc.poll() is not None:
            raise AssertionError(f"mesh start exited {self.proc.returncode}: {self.log()}")
        m = re.search(r"(?:^| )listen=(\S+)", self.log())
        return m.group(1) if m else None

    def log(self) -> str:
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def control(self, path: str, body: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        """POST (or GET, without body) a control endpoint; the reply's JSON."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method="POST" if data is not None else "GET")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            return json.loads(e.read())

    def must(self, path: str, body: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        r = self.control(path, body)
        assert r["code"] == "E0000000000", f"{path}: {r}"
        return r

    def identify(self, node_id: str, inst_id: str) -> None:
        self.must("/v1/interconn/node/refresh", {"node_id": node_id, "inst_id": inst_id})
        self.node_id, self.inst_id = node_id, inst_id

    def route(self, peer: "Node") -> Dict[str, Any]:
        r = self.control("/v1/interconn/net/" + peer.node_id)
        return r.get("content") or {} if r["code"] == "E0000000000" else {}

    def vm_hwm_kib(self) -> int:
        """The node process's peak resident set (VmHWM), KiB."""
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        raise AssertionError("no VmHWM in /proc status")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)
        self._log.close()
        shutil.rmtree(self.home, ignore_errors=True)


def weave(a: Node, b: Node) -> None:
    """Weave a and b as two operators do (host/meshtest.Weave)."""
    a.must("/v1/interconn/net/refresh", {"node_id": b.node_id, "inst_id": b.inst_id, "address": b.addr})
    a.must("/v1/interconn/net/weave", {"node_id": b.node_id})
    code_a, code_b = a.route(b)["code"], b.route(a)["code"]
    b.must("/v1/interconn/net/ack", {"node_id": a.node_id, "inst_id": a.inst_id, "code": code_a})
    a.must("/v1/interconn/net/ack", {"node_id": b.node_id, "inst_id": b.inst_id, "code": code_b})
    wait_for("both routes woven",
             lambda: a.route(b).get("state") == "woven" and b.route(a).get("state") == "woven", WEAVE_LIMIT)


@pytest.fixture(scope="session")
def mesh_bin(tmp_path_factory) -> str:
    given = os.environ.get("MESH_BIN")
    if given:
        return given
    out = str(tmp_path_factory.mktemp("bin") / "mesh")
    subprocess.run(["go", "build", "-o", out, "./cmd/mesh"], cwd=ROOT, check=True)
    return out


@pytest.fixture(scope="session")
def nodes(mesh_bin):
    """Start nodes on demand (start(*args)); all are stopped at the end."""
    started: List[Node] = []

    def start(*args: str) -> Node:
        n = Node(mesh_bin, *args)
        started.append(n)
        return n

    yield start
    for n in started:
        n.stop()


@pytest.fixture(scope="session")
def node(nodes) -> Node:
    """One identified node (node-a, inst JG0100000100000000)."""
    n = nodes()
    n.identify("node-a", "JG0100000100000000")
    return n


@pytest.fixture(scope="session")
def pair(nodes):
    """Two woven nodes: A (inst-a) and B (inst JG0100000100000000)."""
    a, b = nodes(), nodes()
    a.identify("node-4", "JG0100000400000000")
    b.identify("node-5", "JG0100000100000000")
    weave(a, b)
    return a, b


@pytest.fixture(scope="session")
def small_node(nodes) -> Node:
    """A node with --max-message 1 MiB, to exercise splitting quickly."""
    n = nodes("--max-message", str(1 << 20))
    n.identify("node-s", "inst-s")
    return n


@pytest.fixture
def sid() -> str:
    """A fresh session id."""
    return "py-" + uuid.uuid4().hex[:12]


class Recorder:
    """A loopback HTTP server that answers every chan call with success and
    records (method, header names); close=True makes it close the connection
    after its first reply. For what the SDK puts on the wire, not for the
    node's behaviour (tests use real nodes for that)."""

    def __init__(self, close: bool = False):
        self.seen: List[tuple] = []
        self.bodies: List[tuple] = []  # (x-mesh-message-id, body) of each request handled
        rec = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                rec.bodies.append((self.headers.get("x-mesh-message-id", ""), body))
                rec.seen.append((self.path.rsplit("/", 1)[1], {k.lower() for k in self.headers.keys()}))
                self.send_response(200)
                self.send_header("x-ptp-code", "E0000000000")
                self.send_header("Content-Length", "0")
                if close:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                if close:
                    # Close as a real server does: stop writing, drain what
                    # the client pipelined meanwhile, then close. Closing
                    # over unread data would reset the connection, and a
                    # reset may destroy the reply just sent.
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_WR)
                    self.connection.settimeout(5)
                    try:
                        while self.connection.recv(65536):
                            pass
                    except OSError:
                        pass

            def log_message(self, *args):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.addr = "127.0.0.1:%d" % self.srv.server_address[1]
        self.thread = threading.Thread(target=self.srv.serve_forever)
        self.thread.start()

    def stop(self) -> None:
        self.srv.shutdown()
        self.srv.server_close()
        self.thread.join(30)


@pytest.fixture
def recorder():
    r = Recorder()
    yield r
    r.stop()


@pytest.fixture
def closing_recorder():
    r = Recorder(close=True)
    yield r
    r.stop()
