"""The Pythonic client against a real node: queue semantics, errors, transport."""
from __future__ import annotations

import io
import socket
import threading
import time

import pytest

import mesh

MiB = 1 << 20

try:
    import mesh._grpc  # noqa: F401
    TRANSPORTS = ["http", "grpc"]
except ImportError:  # without grpcio/protobuf the gRPC rows are skipped, visibly
    TRANSPORTS = ["http", pytest.param("grpc", marks=pytest.mark.skip(reason="grpcio or protobuf not importable"))]


@pytest.fixture(params=TRANSPORTS)
def client(node, request):
    """A client over each transport."""
    with mesh.Client(node.addr, transport=request.param) as c:
        assert c.transport == request.param
        yield c


@pytest.fixture
def http_client(node):
    with mesh.Client(node.addr, transport="http") as c:
        yield c


def test_fifo(client, sid):
    s = client.session(sid)
    for i in range(50):
        s.push("t", b"m%d" % i)
    assert [s.pop("t", 5.0) for _ in range(50)] == [b"m%d" % i for i in range(50)]


def test_empty_pop_returns_none_after_its_timeout(client, sid):
    s = client.session(sid)
    start = time.monotonic()
    assert s.pop("t", timeout=0.4) is None
    assert time.monotonic() - start >= 0.4


def test_zero_byte_message_is_not_none(client, sid):
    s = client.session(sid)
    s.push("t", b"")
    assert s.pop("t", 5.0) == b""


def test_peek_does_not_remove(client, sid):
    s = client.session(sid)
    assert s.peek("t") is None
    s.push("t", b"a")
    s.push("t", b"b")
    assert s.peek("t") == b"a"
    assert s.peek("t") == b"a"
    assert s.pop("t", 5.0) == b"a"
    assert s.peek("t") == b"b"


def test_release_topic_keeps_the_session(client, sid):
    s = client.session(sid)
    s.push("t", b"a")
    s.push("u", b"b")
    s.release("t")
    assert s.peek("t") is None
    assert s.pop("u", 5.0) == b"b"


def test_released_session_raises_its_code(client, sid):
    s = client.session(sid)
    s.push("t", b"a")
    s.release()
    for call in (lambda: s.push("t", b"x"), lambda: s.pop("t", 0.1)):
        with pytest.raises(mesh.SessionReleased) as e:
            call()
        assert e.value.code == "E0000000608"
        assert e.value.status == (410 if client.transport == "http" else 0)  # HTTP status; none over gRPC


def test_session_context_manager_releases(client, sid):
    with client.session(sid) as s:
        s.push("t", b"a")
    with pytest.raises(mesh.SessionReleased):
        s.push("t", b"b")


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_client_context_manager_closes(node, sid, transport):
    with mesh.Client(node.addr, transport=transport) as c:
        c.session(sid).push("t", b"a")
    with pytest.raises(RuntimeError):
        c.session(sid).pop("t", 0.1)


def test_unwoven_target_raises_not_woven(client, sid):
    with pytest.raises(mesh.NotWoven) as e:
        client.session(sid, target_inst="inst-nobody").push("t", b"x")
    assert e.value.code == "E0000000618"
    with pytest.raises(mesh.NotWoven):
        client.session(sid, target_node="node-nobody").push_many("t", [b"x"])


def test_error_subclasses_are_ptp_errors():
    assert issubclass(mesh.TooLarge, mesh.PTPError)
    e = mesh.errors.error_for("E0000000999", "new code")
    assert type(e) is mesh.PTPError and e.code == "E0000000999"


class NoSeek:
    """A file that cannot be rewound (like a pipe), of known size."""

    def __init__(self, f):
        self.f = f

    def read(self, n=-1):
        return self.f.read(n)

    def tell(self):
        return self.f.tell()

    def fileno(self):
        return self.f.fileno()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_push_over_the_node_limit_learns_it(small_node, sid, transport):
    data = b"q" * (MiB + 1)
    with mesh.Client(small_node.addr, transport=transport) as c:
        s = c.session(sid)
        s.push("t", data)  # gRPC: ResourceExhausted, sent again over HTTP, whose 413 names the limit
        assert c.max_message == MiB
        assert s.pop("t", 10.0) == data


def test_unknown_transport_is_refused():
    with pytest.raises(ValueError):
        mesh.Client("127.0.0.1:1", transport="carrier-pigeon")


def test_oversize_raises_too_large(small_node, sid, tmp_path):
    p = tmp_path / "big"
    p.write_bytes(b"z" * (2 << 20))
    with mesh.Client(small_node.addr) as c, open(p, "rb") as f:  # client believes the default 128 MiB limit
        with pytest.raises(mesh.TooLarge) as e:
            c.session(sid).push("t", NoSeek(f))  # the node refuses; the body cannot be re-sent in pieces
    assert e.value.code == "E0000000413" and "limit of 1048576 bytes" in e.value.message


def test_push_many_refuses_items_above_the_limit(client, sid):
    client.max_message = 10
    with pytest.raises(mesh.TooLarge):
        client.session(sid).push_many("t", [b"x" * 11])


def test_push_memoryview_and_file_pop_into_file(client, sid, tmp_path):
    s = client.session(sid)
    data = bytes(range(256)) * 4096  # 1 MiB
    s.push("t", memoryview(data)[1:])
    p = tmp_path / "in"
    p.write_bytes(data)
    with open(p, "rb") as f:
        f.seek(7)
        s.push("t", f)  # from its position
    assert s.pop("t", 5.0) == data[1:]
    out = io.BytesIO()
    assert s.pop("t", 5.0, into=out) == len(data) - 7
    assert out.getvalue() == data[7:]
    assert s.pop("t", 0.1, into=out) is None


def test_progress_reports_every_byte(client, sid):
    seen = []
    client.session(sid).push("t", b"x" * (3 << 20), progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (3 << 20, 3 << 20)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen) and len(seen) == 3


def test_push_many_is_fifo(client, sid):
    s = client.session(sid)
    ids = s.push_many("t", (b"p%d" % i for i in range(200)), window=8)
    assert len(set(ids)) == 200
    assert [s.pop("t", 5.0) for _ in range(200)] == [b"p%d" % i for i in range(200)]


def test_push_many_raises_the_first_failure(client, sid):
    s = client.session(sid)
    s.release()
    with pytest.raises(mesh.SessionReleased):
        s.push_many("t", [b"a", b"b", b"c"], window=2)


def test_stale_connection_is_replaced(http_client, sid):
    client = http_client
    s = client.session(sid)
    s.push("t", b"1")
    client.wire._local.conn.sock.shutdown(socket.SHUT_RDWR)  # as if the node closed an idle connection
    s.push("t", b"2")
    assert [s.pop("t", 5.0), s.pop("t", 5.0), s.pop("t", 0.1)] == [b"1", b"2", None]


def test_failover_to_the_next_address(node, sid):
    with mesh.Client(f"127.0.0.1:1,{node.addr}") as c:
        c.session(sid).push("t", b"x")
        assert c.session(sid).pop("t", 5.0) == b"x"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_no_node_answers(transport):
    with mesh.Client("127.0.0.1:1", timeout=2, transport=transport) as c:
        with pytest.raises(ConnectionError):
            c.session("s").pop("t", 0.1)


def test_session_needs_id_and_topic(client):
    with pytest.raises(ValueError):
        client.session("")
    with pytest.raises(ValueError):
        client.session("s").push("", b"x")
    with pytest.raises(ValueError):
        client.session("s").pop("")


def test_token_and_metadata_headers_reach_the_node(node, sid):
    with mesh.Client(node.addr, token="tok", headers={"x-ptp-tech-provider-code": "LX"}, transport="http") as c:
        s = c.session(sid, metadata={"x-ptp-trace-id": "跟踪-1"})
        s.push("t", b"x", {"x-app": "值"})  # non-ASCII header values go as UTF-8
        assert s.pop("t", 5.0) == b"x"


def test_a_short_wait_is_never_sent_as_zero():
    from mesh.client import _ms
    assert [_ms(0), _ms(0.0004), _ms(0.25), _ms(10)] == ["1", "1", "250", "10000"]  # 0 would mean 120 s


def test_pipeline_resends_when_the_node_closes_midway(closing_recorder):
    with mesh.Client(closing_recorder.addr) as c:  # this "node" closes the connection after each reply
        ids = c.session("s").push_many("t", [b"a", b"b", b"c", b"d"], window=3)
    assert len(ids) == 4
    # Each message arrived, under the id push_many returned for it. How many
    # times is the network's choice: closing a socket with unread requests
    # resets it, which may destroy a reply already sent, and the SDK then
    # sends that push again under the same id (the node stores it once).
    assert all(m == "push" for m, _ in closing_recorder.seen)
    got = {}
    for mid, body in closing_recorder.bodies:
        assert got.setdefault(mid, body) == body, "one id carried two payloads"
    assert got == dict(zip(ids, [b"a", b"b", b"c", b"d"]))


def test_pipeline_gives_up_on_a_node_that_never_answers():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    stop = []

    def slam():  # accept and close at once, forever
        srv.settimeout(0.2)
        while not stop:
            try:
                srv.accept()[0].close()
            except OSError:
                pass

    th = threading.Thread(target=slam)
    th.start()
    try:
        with mesh.Client("127.0.0.1:%d" % srv.getsockname()[1]) as c:
            with pytest.raises(ConnectionError) as e:
                c.session("s").push_many("t", [b"a", b"b"], window=2)
        assert "in a row" in str(e.value)
    finally:
        stop.append(1)
        th.join(10)
        srv.close()
