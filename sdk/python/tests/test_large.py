"""Large payloads: the older client's split convention both ways, learning the
node's limit, and 256 MiB through the SDK with the node's memory bounded."""
from __future__ import annotations

import hashlib
import http.client
import io
import os

import pytest

import mesh
from mesh import split_topic

MiB = 1 << 20


def raw(node, method, sid, topic, body=b"", wait_ms=None):
    """A plain-HTTP chan call with raw bodies: (code, message id, body)."""
    c = http.client.HTTPConnection(node.addr, timeout=30)
    h = {"x-ptp-session-id": sid, "x-ptp-topic": topic, "Content-Type": "application/octet-stream",
         "Accept": "application/octet-stream"}
    if wait_ms is not None:
        h["x-ptp-timeout"] = str(wait_ms)
    c.request("POST", "/v1/interconn/chan/" + method, body=body, headers=h)
    r = c.getresponse()
    out = r.getheader("x-ptp-code"), r.getheader("x-mesh-message-id"), r.read()
    c.close()
    return out


def payload(n: int) -> bytes:
    return (bytes(range(251)) * (n // 251 + 1))[:n]


def test_sdk_writes_the_split_convention(small_node, sid):
    data = payload(2 * MiB + MiB // 2)
    with mesh.Client(small_node.addr, max_message=MiB) as c:
        c.session(sid).push("model", data)
    code, _, count = raw(small_node, "pop", sid, split_topic("model", 0), wait_ms=1000)
    assert code == "E0000000000" and count == b"3"
    chunks = [raw(small_node, "pop", sid, split_topic("model", i), wait_ms=1000)[2] for i in range(1, 4)]
    assert [len(x) for x in chunks] == [MiB, MiB, MiB // 2]
    assert b"".join(chunks) == data
    assert raw(small_node, "peek", sid, "model")[1] is None  # nothing on the plain topic


def push_split_raw(node, sid, topic, data, chunk, count_first=True):
    parts = [data[i:i + chunk] for i in range(0, len(data), chunk)]
    if count_first:
        assert raw(node, "push", sid, split_topic(topic, 0), str(len(parts)).encode())[0] == "E0000000000"
    for i, p in enumerate(parts, 1):
        assert raw(node, "push", sid, split_topic(topic, i), p)[0] == "E0000000000"
    if not count_first:
        raw(node, "push", sid, split_topic(topic, 0), str(len(parts)).encode())


@pytest.mark.parametrize("count_first", [True, False])
def test_sdk_reads_the_split_convention(small_node, sid, count_first):
    data = payload(3 * MiB)
    push_split_raw(small_node, sid, "model", data, MiB, count_first)
    with mesh.Client(small_node.addr) as c:
        s = c.session(sid)
        assert s.peek("model") == data  # peek reassembles and leaves it
        assert s.pop("model", 10.0) == data
        assert s.pop("model", 0.2) is None
        push_split_raw(small_node, sid, "model", data, MiB, count_first)
        out = io.BytesIO()
        assert s.pop("model", 10.0, into=out) == len(data)
        assert out.getvalue() == data


def test_split_read_off_ignores_split_topics(small_node, sid):
    push_split_raw(small_node, sid, "m", b"abc", 1)
    with mesh.Client(small_node.addr, split_read=False) as c:
        assert c.session(sid).pop("m", 0.2) is None
        assert c.session(sid).peek("m") is None


def test_bad_split_count_raises(small_node, sid):
    raw(small_node, "push", sid, split_topic("m", 0), b"lots")
    with mesh.Client(small_node.addr) as c:
        with pytest.raises(mesh.BadRequest) as e:
            c.session(sid).pop("m", 5.0)
    assert "not a piece count" in e.value.message


def test_missing_split_piece_raises_timeout(small_node, sid):
    raw(small_node, "push", sid, split_topic("m", 1), b"a")
    raw(small_node, "push", sid, split_topic("m", 0), b"2")  # says 2, only 1 came
    with mesh.Client(small_node.addr, timeout=0.5) as c:
        with pytest.raises(mesh.Timeout) as e:
            c.session(sid).pop("m", 0.5)
    assert "piece 2 of 2" in e.value.message


def test_client_learns_the_limit_from_413(small_node, sid):
    data = payload(2 * MiB + 3)
    with mesh.Client(small_node.addr) as c:  # believes 128 MiB
        s = c.session(sid)
        s.push("t", data)
        assert c.max_message == MiB
        assert raw(small_node, "peek", sid, split_topic("t", 0))[2] == b"3"
        assert s.pop("t", 10.0) == data


def test_split_file_push_with_progress(small_node, sid, tmp_path):
    data = payload(2 * MiB + 5)
    p = tmp_path / "f"
    p.write_bytes(data)
    seen = []
    with mesh.Client(small_node.addr, max_message=MiB) as c, open(p, "rb") as f:
        s = c.session(sid)
        s.push("t", f, progress=lambda d, t: seen.append((d, t)))
        assert s.pop("t", 10.0) == data
    assert seen[-1] == (len(data), len(data))
    assert all(t == len(data) for _, t in seen)


@pytest.mark.skipif(os.environ.get("MESH_SKIP_BIG") == "1", reason="MESH_SKIP_BIG=1")
def test_256_mib_with_the_node_memory_bounded(nodes, sid, tmp_path):
    n = nodes()  # a fresh node: its peak RSS is this transfer's
    n.identify("node-big", "inst-big")
    size = 256 * MiB
    src = tmp_path / "src"
    h = hashlib.sha256()
    with open(src, "wb") as f:
        block = os.urandom(MiB)
        for i in range(256):
            b = block[i:] + block[:i]
            h.update(b)
            f.write(b)
    before = n.vm_hwm_kib()
    dst = tmp_path / "dst"
    with mesh.Client(n.addr, timeout=120) as c, open(src, "rb") as f, open(dst, "wb") as out:
        s = c.session(sid)
        s.push("model", f)  # above the node's 128 MiB: four 64 MiB pieces
        assert s.pop("model", 120.0, into=out) == size
    got = hashlib.sha256()
    with open(dst, "rb") as f:
        for b in iter(lambda: f.read(MiB), b""):
            got.update(b)
    assert got.hexdigest() == h.hexdigest()
    peak = n.vm_hwm_kib()
    print(f"node VmHWM: {before // 1024} MiB before, {peak // 1024} MiB after 256 MiB through the SDK")
    assert peak < 1024 * 1024, f"node peak RSS {peak // 1024} MiB"  # < 1 GiB: 4x the payload
