"""Service RPC against real nodes: two `mesh start` processes, woven, with providers registered
through the node's service registry. Run from the repository root:

    /usr/bin/python3 -m pytest -q sdk/python/tests/test_rpc.py

(MESH_BIN names a built mesh binary; otherwise the tests build one with go.)
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import threading
from abc import ABC, abstractmethod

import pytest

from conftest import SDK, wait_for  # the SDK tests' real nodes (conftest.py puts the SDK on sys.path)
from mesh import Routable, errors, rpc
from mesh.rpc_demo import DemoTokenizer, Tokenizer

WAIT = 30.0  # bound of every wait, in seconds


def registrations(node):
    """The node's registry listing."""
    return node.must("/v1/interconn/registry")["content"] or []


@pytest.fixture(scope="module")
def ab(pair):
    """Two woven nodes of conftest.py: A and B."""
    return pair


@pytest.fixture(scope="module")
def tokenizer_at_b(ab):
    """DemoTokenizer registered at B, exposed to partners."""
    server = rpc.RpcServer(ab[1].addr).add(DemoTokenizer(), rpc.MPS(exposed=True)).start()
    yield server
    server.stop()


# Interfaces of the other tests' providers.

@rpc.spi("secret")
class Secret(ABC):
    @abstractmethod
    @rpc.mpi("rpc.test.secret")
    def reveal(self, who: str) -> str:
        ...


class SecretImpl(Secret):
    def reveal(self, who: str) -> str:
        return "only for " + who


@rpc.spi("gate")
class Gate(ABC):
    @abstractmethod
    @rpc.mpi("rpc.test.gate.wait")
    def wait(self) -> str:
        ...

    @abstractmethod
    @rpc.mpi("rpc.test.gate.trace")
    def trace(self) -> str:
        ...


class GateImpl(Gate):
    def __init__(self):
        self.open = threading.Event()

    def wait(self) -> str:
        self.open.wait(WAIT)
        return "opened"

    def trace(self) -> str:
        return rpc.current_trace_id()


class Component:
    """The older client's consumer: an @mpi method returning the interface."""

    @rpc.mpi
    def tokenizer(self) -> Tokenizer:
        ...

    def invoke(self) -> bool:
        token = self.tokenizer().apply("PERMIT", 1000 * 60 * 5)
        return self.tokenizer().verify(token)


def test_consumer_at_b_calls_local_provider(ab, tokenizer_at_b):
    t = rpc.Proxy(Tokenizer, address=ab[1].addr)
    assert t.apply("PERMIT", 60000) == "PERMIT:60000"
    assert t.apply(kind="DENY", duration=5) == "DENY:5"
    assert t.verify("PERMIT:60000") is True
    assert t.verify("nonsense") is False


def test_consumer_at_a_reaches_provider_at_b_through_both_nodes(ab, tokenizer_at_b):
    a, b = ab
    t = rpc.Proxy(Tokenizer, address=a.addr).target(b.node_id)
    assert t.apply("PERMIT", 300000) == "PERMIT:300000"
    assert t.any({"node_id": b.node_id}).verify("DENY:1") is True
    by_inst = rpc.Proxy(Tokenizer, address=a.addr).target(inst_id=b.inst_id)
    assert by_inst.apply("DENY", 7) == "DENY:7"
    with pytest.raises(errors.NotFound):  # local(): A itself has no Tokenizer provider
        t.local().apply("PERMIT", 1)


def test_routable_of_a_proxy(ab, tokenizer_at_b):
    a, b = ab
    far = Routable.of(rpc.Proxy(Tokenizer)).with_address(a.addr).any({"node_id": b.node_id})
    assert far.apply("PERMIT", 3) == "PERMIT:3"
    with pytest.raises(errors.NotFound):  # local(): A's own providers, and A has none
        Routable.of(far).with_address(a.addr).local().apply("PERMIT", 3)


def test_older_client_consumer_shape(ab, tokenizer_at_b, monkeypatch):
    monkeypatch.setenv("MESH_ADDRESS", f"{ab[1].addr},127.0.0.1:1")  # the first is called
    assert Component().invoke() is True
    assert Component().tokenizer is Component().tokenizer()  # the reference is the proxy


def test_mpi_reference_of_a_routable(ab, tokenizer_at_b):
    a, b = ab

    class Far:
        @rpc.mpi
        def tokenizer(self) -> Routable[Tokenizer]:
            ...

    assert Far().tokenizer.with_address(a.addr).any({"node_id": b.node_id}).apply("DENY", 4) == "DENY:4"


def test_mpi_field_reference(ab, tokenizer_at_b):
    class Holder:
        tokenizer: Tokenizer = rpc.mpi(address=ab[1].addr)
        by_kind = rpc.mpi(Tokenizer, address=ab[1].addr)

    assert Holder().tokenizer.apply("PERMIT", 2) == "PERMIT:2"
    assert Holder().by_kind.verify("PERMIT:2") is True


def test_provider_exception_reaches_consumer(ab, tokenizer_at_b):
    a, b = ab
    for proxy in (rpc.Proxy(Tokenizer, address=b.addr), rpc.Proxy(Tokenizer, address=a.addr).target(b.node_id)):
        with pytest.raises(rpc.RemoteError) as e:
            proxy.apply("BOGUS", 1)
        assert e.value.code == "E0000000500"
        assert e.value.type == "ValueError"
        assert "unknown kind 'BOGUS'" in e.value.message
        assert isinstance(e.value, errors.PTPError)


def test_unexposed_provider_answers_614_to_partner(ab):
    a, b = ab
    server = rpc.RpcServer(b.addr).add(SecretImpl(), rpc.MPS(exposed=False)).start()
    try:
        assert rpc.Proxy(Secret, address=b.addr).reveal("b") == "only for b"
        with pytest.raises(errors.NotPermitted) as e:
            rpc.Proxy(Secret, address=a.addr).target(b.node_id).reveal("a")
        assert e.value.code == "E0000000614"
    finally:
        server.stop()


def test_exposure_by_flags_and_env(monkeypatch):
    assert rpc.MPS(flags=4).exposed and not rpc.MPS().exposed
    monkeypatch.setenv("MESH_RPC_EXPOSED", "true")
    assert rpc.MPS().exposed and not rpc.MPS(exposed=False).exposed
    server = rpc.RpcServer("127.0.0.1:1").add(SecretImpl(), rpc.MPS(exposed=True, partners="x,y"))
    svc = server.registration()["content"]["services"][0]
    assert svc["urn"] == "/mesh-rpc/rpc.test.secret" and svc["attrs"] == {"exposed": "true", "partners": "x,y"}


def test_unknown_name_is_not_found(ab):
    class Nobody(ABC):
        @rpc.mpi("rpc.test.nobody")
        def hello(self) -> str:
            ...

    with pytest.raises(errors.NotFound) as e:
        rpc.Proxy(Nobody, address=ab[0].addr).hello()
    assert e.value.code == "E0000000404"


def test_unwoven_target_is_618(ab):
    with pytest.raises(errors.NotWoven):
        rpc.Proxy(Tokenizer, address=ab[0].addr).target("no-such-node").apply("PERMIT", 1)


def test_provider_down_answers_602_quickly(ab):
    """A provider process killed without unregistering: the node answers 602 within the
    consumer's timeout, not after it."""
    a = ab[0]
    env = dict(os.environ, PYTHONPATH=str(SDK))
    proc = subprocess.Popen([sys.executable, "-m", "mesh.rpc_demo", "serve", "--node", a.addr],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    try:
        ready = proc.stdout.readline().split()
        assert ready[:1] == ["ready"], ready
        t = rpc.Proxy(Tokenizer, address=a.addr, timeout_ms=int(WAIT * 1000))
        assert t.apply("PERMIT", 1) == "PERMIT:1"
    finally:
        proc.kill()
        proc.wait(WAIT)
    with pytest.raises(errors.NoProvider) as e:
        t.apply("PERMIT", 1)
    assert e.value.code == "E0000000602"
    a.must("/v1/interconn/registry/unregister", {"name": rpc.REGISTRATION_NAME, "instance_id": ready[1]})


def test_consumer_timeout(ab):
    b = ab[1]
    gate = GateImpl()
    server = rpc.RpcServer(b.addr).add(gate).start()
    try:
        with pytest.raises(errors.Timeout) as e:
            rpc.Proxy(Gate, address=b.addr, timeout_ms=300).wait()
        assert e.value.code == "E0000000601"
    finally:
        gate.open.set()
        server.stop()


def test_trace_id_passes_through(ab):
    a, b = ab
    server = rpc.RpcServer(b.addr).add(GateImpl(), rpc.MPS(exposed=True)).start()
    try:
        assert rpc.Proxy(Gate, address=b.addr).with_trace_id("trace-local").trace() == "trace-local"
        assert rpc.Proxy(Gate, address=a.addr).target(b.node_id).with_trace_id("trace-far").trace() == "trace-far"
        assert len(rpc.Proxy(Gate, address=b.addr).trace()) == 32  # a fresh id when none is given
    finally:
        server.stop()


def test_stop_unregisters_and_heartbeat_renews(ab):
    b = ab[1]
    server = rpc.RpcServer(b.addr, ttl_ms=1500).add(SecretImpl()).start()
    mine = lambda: [r for r in registrations(b) if r["instance_id"] == server.address]  # noqa: E731
    first = mine()[0]["expires"]
    wait_for("a renewed registration", lambda: mine() and mine()[0]["expires"] != first)
    server.stop()
    assert mine() == []
    with pytest.raises(errors.NotFound):
        rpc.Proxy(Secret, address=b.addr).reveal("x")


def test_register_failure_is_raised_and_server_closed(ab):
    server = rpc.RpcServer(ab[1].addr, ttl_ms=-1).add(SecretImpl())
    with pytest.raises(errors.BadRequest):
        server.start()
    with pytest.raises(errors.NetworkUnreachable):
        rpc.RpcServer("127.0.0.1:1").add(SecretImpl()).start()


def test_provider_refuses_bad_requests(ab, tokenizer_at_b):
    """Straight to the provider's port: what a foreign consumer could send."""
    host, port = rpc._split(tokenizer_at_b.address)

    def post(path, body, headers=None):
        conn = http.client.HTTPConnection(host, port, timeout=WAIT)
        try:
            conn.request("POST", path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, json.loads(resp.read())["error"]
        finally:
            conn.close()

    cases = [
        ("/mesh-rpc/mesh.trust.apply", b"not json", 400, "E0000000400", "not JSON"),
        ("/mesh-rpc/mesh.trust.apply", b'{"args": [1, 2]}', 400, "E0000000400", "args"),
        ("/mesh-rpc/mesh.trust.apply", b'{"args": {"kind": "PERMIT"}}', 400, "E0000000400", "do not fit"),
        ("/mesh-rpc/mesh.trust.apply", b'{"args": {"nope": 1}}', 400, "E0000000400", "do not fit"),
        ("/mesh-rpc/no.such", b'{"args": {}}', 404, "E0000000404", "no method no.such"),
        ("/elsewhere", b"{}", 404, "E0000000404", "not an RPC path"),
    ]
    for path, body, status, code, text in cases:
        got_status, err = post(path, body)
        assert (got_status, err["code"]) == (status, code), (path, body, err)
        assert text in err["message"], (path, err)
    got_status, err = post("/mesh-rpc/mesh.trust.apply", b"", {"Content-Length": str(rpc.MAX_BODY + 1)})
    assert (got_status, err["code"]) == (413, "E0000000413")


def test_unserialisable_result_and_chosen_codes(ab):
    class Odd(ABC):
        @rpc.mpi("rpc.test.odd")
        def odd(self) -> object:
            ...

        @rpc.mpi("rpc.test.full")
        def full(self) -> None:
            ...

    class OddImpl(Odd):
        def odd(self):
            return object()

        def full(self):
            raise errors.BufferFull("E0000000700", "full on purpose")

    b = ab[1]
    server = rpc.RpcServer(b.addr).add(OddImpl()).start()
    try:
        with pytest.raises(rpc.RemoteError) as e:
            rpc.Proxy(Odd, address=b.addr).odd()
        assert "not JSON" in e.value.message
        with pytest.raises(errors.BufferFull) as full:  # a PTPError raised keeps its code
            rpc.Proxy(Odd, address=b.addr).full()
        assert full.value.code == "E0000000700" and "full on purpose" in full.value.message
    finally:
        server.stop()


def test_mesh_start_serves_mps_classes_and_stop_withdraws_them(ab, monkeypatch):
    import mesh

    a, b = ab
    monkeypatch.setattr(rpc, "_providers", [])
    monkeypatch.setenv("MESH_ADDRESS", b.addr)

    @rpc.mps(flags=4)  # communal: exposed, the older client's way
    class Provided(Secret):
        def reveal(self, who: str) -> str:
            return "mps " + who

    mesh.stop()  # another test may have started the runtime already
    mesh.start()
    try:
        assert rpc.start_providers() is rpc.start_providers()  # served once
        assert rpc.Proxy(Secret, address=a.addr).target(b.node_id).reveal("a") == "mps a"
    finally:
        mesh.stop()
    with pytest.raises(errors.NotFound):  # mesh.stop() unregistered it
        rpc.Proxy(Secret, address=b.addr).reveal("b")


def test_declaration_errors():
    class Plain:
        pass

    with pytest.raises(TypeError):
        rpc.Proxy(Plain)
    with pytest.raises(AttributeError):
        rpc.Proxy(Tokenizer).nothing
    with pytest.raises(TypeError):  # the consumer binds arguments before sending
        rpc.Proxy(Tokenizer).apply("PERMIT")

    class Unannotated:
        @rpc.mpi
        def what(self):
            ...

    with pytest.raises(TypeError):
        Unannotated().what
    assert rpc.spi("mesh")(Plain).__spi__.name == "mesh"
    assert rpc.spi(Plain).__spi__.name == "Plain"


def test_unreachable_node_raises_607():
    with pytest.raises(errors.NetworkUnreachable):
        rpc.Proxy(Tokenizer, address="127.0.0.1:1").apply("PERMIT", 1)
