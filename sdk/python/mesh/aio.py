"""asyncio client: the blocking :class:`mesh.Client` run in a thread pool.

>>> async with mesh.aio.Client("127.0.0.1:7304") as c:
...     s = c.session("job-1")
...     await s.push("t", b"x")
...     await s.pop("t", timeout=5.0)

Each worker thread keeps its own keep-alive connection, so up to
``workers`` calls (blocked pops included) run at once; more wait their turn.
"""
from __future__ import annotations

import asyncio
import functools
from concurrent.futures import ThreadPoolExecutor
from typing import Any, BinaryIO, Dict, Iterable, List, Optional

from . import client as _client
from ._wire import Data, Progress


class Client:
    """Async twin of :class:`mesh.Client` (same arguments, plus workers)."""

    def __init__(self, address: Optional[str] = None, token: Optional[str] = None, timeout: float = 30.0, *,
                 workers: int = 8, **options: Any):
        self.sync = _client.Client(address, token, timeout, **options)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mesh-aio")

    async def _run(self, fn, *args, **kwargs):
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))

    def session(self, id: str, target_node: Optional[str] = None, target_inst: Optional[str] = None,
                metadata: Optional[Dict[str, str]] = None) -> "Session":
        return Session(self, self.sync.session(id, target_node, target_inst, metadata))

    async def close(self) -> None:
        """Close the connections and stop the worker threads."""
        await self._run(self.sync.close)
        self._pool.shutdown(wait=False)

    async def __aenter__(self) -> "Client":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()


class Session:
    """Async twin of :class:`mesh.Session`; ``async with`` releases it on exit."""

    def __init__(self, client: Client, sync: _client.Session):
        self.client, self.sync = client, sync

    async def push(self, topic: str, data: Data, metadata: Optional[Dict[str, str]] = None,
                   progress: Optional[Progress] = None) -> str:
        return await self.client._run(self.sync.push, topic, data, metadata, progress)

    async def push_many(self, topic: str, items: Iterable[bytes], window: int = 4,
                        metadata: Optional[Dict[str, str]] = None) -> List[str]:
        return await self.client._run(self.sync.push_many, topic, list(items), window, metadata)

    async def pop(self, topic: str, timeout: float = _client.DEFAULT_POP_WAIT, into: Optional[BinaryIO] = None):
        return await self.client._run(self.sync.pop, topic, timeout, into)

    async def peek(self, topic: str) -> Optional[bytes]:
        return await self.client._run(self.sync.peek, topic)

    async def release(self, topic: Optional[str] = None) -> None:
        await self.client._run(self.sync.release, topic)

    async def __aenter__(self) -> "Session":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.release()
