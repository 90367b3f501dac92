"""The older Mesh client's API against real nodes, the issue's program first."""
from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

import mesh
from mesh import Metadata, Routable, ServiceLoader, Transport
from mesh.client import default_address
from mesh._wire import parse_addresses

PROGRAM = pathlib.Path(__file__).with_name("issue_program.py")
SDK = pathlib.Path(__file__).resolve().parents[1]
ISSUE_ADDRESS = "10.99.1.33:570"


def run_program(addr: str, tmp_path) -> str:
    """Run the issue's program (only its address replaced) in a fresh interpreter; its log."""
    text = PROGRAM.read_text(encoding="utf-8")
    assert text.count(ISSUE_ADDRESS) == 1
    prog = tmp_path / "program.py"
    prog.write_text(text.replace(ISSUE_ADDRESS, addr), encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=str(SDK))
    env.pop("MESH_ADDRESS", None)
    p = subprocess.run([sys.executable, "-c", f"import runpy; runpy.run_path({str(prog)!r})['main']()"],
                       env=env, capture_output=True, timeout=300)
    out = p.stderr.decode("utf-8")
    assert p.returncode == 0, out
    return out


def test_issue_program_runs_verbatim_on_one_node(node, tmp_path):
    out = run_program(node.addr, tmp_path)
    sent = [l.split("节点4发送:", 1)[1] for l in out.splitlines() if "节点4发送:" in l]
    got = [l.split("节点4接收:", 1)[1] for l in out.splitlines() if "节点4接收:" in l]
    want = [f"节点4发送给节点5报文{i}" for i in range(100)]
    assert sent == want
    assert got == want


def open_at(addr: str, sid: str, target_inst: str = ""):
    transport = Routable.of(ServiceLoader.load(Transport).get("mesh")).with_address(addr).local()
    md = {Metadata.MESH_TRACE_ID.key(): mesh.Mesh.context().get_trace_id()}
    if target_inst:
        md[Metadata.MESH_TARGET_INST_ID.key()] = target_inst
    return transport, transport.open(sid, md)


def test_program_across_two_woven_nodes(pair, sid):
    a, b = pair
    ta, at_a = open_at(a.addr, sid, b.inst_id)  # push at A targeting B's institution
    tb, at_b = open_at(b.addr, sid)  # pop at B, same SDK
    for i in range(100):
        at_a.push(f"节点4发送给节点5报文{i}".encode(), {}, "topic")
    got = [at_b.pop(10000, "topic") for _ in range(100)]
    assert [g.decode() for g in got] == [f"节点4发送给节点5报文{i}" for i in range(100)]
    assert at_a.pop(50, "topic") is None  # A's own queue holds nothing: pops read the caller's node
    ta.close()
    tb.close()


def test_routable_any_targets_the_principal(pair, sid):
    a, b = pair
    t = Routable.of(ServiceLoader.load(Transport).get("mesh")).with_address(a.addr).any({"inst_id": b.inst_id})
    t.open(sid, {}).push(b"via any", {}, "t")
    _, at_b = open_at(b.addr, sid)
    assert at_b.pop(10000, "t") == b"via any"


@pytest.mark.parametrize("member,key", [
    ("MESH_VERSION", "x-ptp-version"), ("MESH_TECH_PROVIDER_CODE", "x-ptp-tech-provider-code"),
    ("MESH_TRACE_ID", "x-ptp-trace-id"), ("MESH_TOKEN", "x-ptp-token"), ("MESH_URI", "x-ptp-uri"),
    ("MESH_FROM_NODE_ID", "x-ptp-source-node-id"), ("MESH_FROM_INST_ID", "x-ptp-source-inst-id"),
    ("MESH_TARGET_NODE_ID", "x-ptp-target-node-id"), ("MESH_TARGET_INST_ID", "x-ptp-target-inst-id"),
    ("MESH_SESSION_ID", "x-ptp-session-id"), ("MESH_TOPIC", "x-ptp-topic"), ("MESH_TIMEOUT", "x-ptp-timeout"),
])
def test_metadata_keys(member, key):
    assert Metadata[member].key() == key
    assert Metadata[member].get({key.upper(): "v"}) == "v"


def test_open_makes_no_call():
    t = Routable.of(ServiceLoader.load(Transport).get("mesh")).with_address("127.0.0.1:1").local()
    s = t.open("no-call", {})  # nothing listens on port 1: open must not connect
    with pytest.raises(ConnectionError):
        s.push(b"x", {}, "t")


def test_peek_and_release_topic(node, sid):
    _, s = open_at(node.addr, sid)
    s.push(b"1", {}, "t")
    assert s.peek("t") == b"1"
    assert s.peek("t") == b"1"
    s.release(0, "t")
    assert s.peek("t") is None
    s.push(b"2", {}, "t")  # releasing a topic leaves the session usable
    assert s.pop(1000, "t") == b"2"


def test_transport_close_releases_its_sessions(node, sid):
    t, s = open_at(node.addr, sid)
    s.push(b"x", {}, "t")
    t.close()
    _, again = open_at(node.addr, sid)
    with pytest.raises(mesh.SessionReleased) as e:
        again.pop(100, "t")
    assert e.value.code == "E0000000608"


def test_address_from_argv_then_env(monkeypatch):
    monkeypatch.setenv("MESH_ADDRESS", "10.0.0.1:1")
    assert default_address(["prog"]) == "10.0.0.1:1"
    assert default_address(["prog", "--mesh.address=10.0.0.2"]) == "10.0.0.2"
    assert default_address(["prog", "--mesh.address", "10.0.0.3:9"]) == "10.0.0.3:9"
    monkeypatch.delenv("MESH_ADDRESS")
    assert default_address(["prog"]) == "127.0.0.1:7304"


def test_env_address_is_used_without_with_address(node, monkeypatch, sid):
    monkeypatch.setenv("MESH_ADDRESS", f"127.0.0.1:1,{node.addr}")  # first is down: the next answers
    t = Routable.of(mesh.MeshTransport()).local()
    s = t.open(sid, {})
    s.push(b"env", {}, "t")
    assert s.pop(1000, "t") == b"env"
    t.close()


@pytest.mark.parametrize("spec,want", [
    ("10.99.1.33:570", ["http://10.99.1.33:570"]),
    ("a, b:1", ["http://a:7304", "http://b:1"]),
    ("https://h:8443/", ["https://h:8443"]),
    ("[::1]:9", ["http://::1:9"]),
])
def test_parse_addresses(spec, want):
    assert [repr(a) for a in parse_addresses(spec)] == want


@pytest.mark.parametrize("spec", ["", " , ", "h:0", "h:x", "ftp://h:1", ":5"])
def test_parse_addresses_refuses(spec):
    with pytest.raises(ValueError):
        parse_addresses(spec)


def test_start_runs_hooks_once():
    calls = []
    saved_start, saved_stop = list(mesh._on_start), list(mesh._on_stop)
    mesh._on_start[:] = [lambda: calls.append("start")]
    mesh._on_stop[:] = [lambda: calls.append("stop")]
    try:
        mesh.start()
        mesh.start()
        mesh.stop()
        mesh.start()
        assert calls == ["start", "stop", "start"]
    finally:
        mesh._on_start[:] = [lambda: None]
        mesh.stop()
        mesh._on_start[:], mesh._on_stop[:] = saved_start, saved_stop


def test_trace_id_is_per_thread_and_stable():
    import threading
    mine = mesh.Mesh.context().get_trace_id()
    assert mine == mesh.Mesh.context().get_trace_id() and len(mine) == 32
    other = []
    th = threading.Thread(target=lambda: other.append(mesh.Mesh.context().get_trace_id()))
    th.start()
    th.join()
    assert other[0] != mine


def test_only_pushes_carry_the_target_headers(recorder, monkeypatch):
    """What goes on the wire, seen by a recorder: the node itself ignores a pop's target."""
    monkeypatch.setenv("MESH_TRANSPORT", "http")  # the recorder speaks HTTP/1.1 only
    t = Routable.of(ServiceLoader.load(Transport).get("mesh")).with_address(recorder.addr).local()
    s = t.open("rec", {Metadata.MESH_TARGET_INST_ID.key(): "JG01", Metadata.MESH_TARGET_NODE_ID.key(): "n5",
                       Metadata.MESH_TOKEN.key(): "x"})
    s.push(b"x", {}, "t")
    s.pop(10, "t")
    s.peek("t")
    s.release(0, "t")
    t.close()
    targets = {"x-ptp-target-inst-id", "x-ptp-target-node-id"}
    assert [m for m, _ in recorder.seen][:2] == ["push", "pop"]
    for method, headers in recorder.seen:
        assert "x-ptp-session-id" in headers and "x-ptp-token" in headers
        assert (targets <= headers) == (method == "push"), (method, headers)
