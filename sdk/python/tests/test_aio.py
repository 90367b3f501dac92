"""The asyncio client against a real node."""
from __future__ import annotations

import asyncio

import pytest

import mesh
import mesh.aio


def run(coro):
    return asyncio.run(coro)


def test_async_push_pop_peek_release(node, sid):
    async def main():
        async with mesh.aio.Client(node.addr) as c:
            s = c.session(sid)
            await s.push("t", b"a")
            assert await s.peek("t") == b"a"
            assert await s.pop("t", timeout=5.0) == b"a"
            assert await s.pop("t", timeout=0.1) is None
            await s.push_many("t", [b"1", b"2"])
            await s.release("t")
            assert await s.peek("t") is None
    run(main())


def test_async_pop_waits_while_a_push_proceeds(node, sid):
    async def main():
        async with mesh.aio.Client(node.addr) as c:
            s = c.session(sid)
            waiting = asyncio.ensure_future(s.pop("t", timeout=30.0))
            await asyncio.sleep(0)  # let the pop start first; correctness does not depend on it
            await s.push("t", b"late")
            assert await waiting == b"late"
    run(main())


def test_async_errors_carry_the_code(node, sid):
    async def main():
        async with mesh.aio.Client(node.addr) as c:
            async with c.session(sid) as s:
                await s.push("t", b"a")
            with pytest.raises(mesh.SessionReleased):
                await s.push("t", b"b")
            with pytest.raises(mesh.NotWoven):
                await c.session(sid + "x", target_inst="nobody").push("t", b"b")
    run(main())
