"""The older client's README example as a runnable provider and consumer, for trying RPC and for
the tests of other languages.

    python3 -m mesh.rpc_demo serve --node 127.0.0.1:7304 [--exposed]
        serves Tokenizer, prints "ready ADDRESS" once registered, and runs until its standard
        input closes (or SIGTERM), then unregisters.
    python3 -m mesh.rpc_demo call --node 127.0.0.1:7304 [--target-node B] NAME JSON_ARGS
        prints the JSON result, or "error CODE MESSAGE" and exits 1.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from abc import ABC, abstractmethod

from . import rpc
from .errors import PTPError

#: Kinds of token DemoTokenizer.apply issues; any other raises ValueError.
KINDS = ("PERMIT", "DENY")


@rpc.spi("mesh")
class Tokenizer(ABC):
    """The older client's README interface."""

    @abstractmethod
    @rpc.mpi("mesh.trust.apply")
    def apply(self, kind: str, duration: int) -> str:
        """A token of kind, valid for duration ms."""

    @abstractmethod
    @rpc.mpi("mesh.trust.verify")
    def verify(self, token: str) -> bool:
        """Whether token is one apply issued."""


class DemoTokenizer(Tokenizer):
    """Tokens "KIND:DURATION"; apply refuses unknown kinds with ValueError."""

    def apply(self, kind: str, duration: int) -> str:
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}")
        return f"{kind}:{duration}"

    def verify(self, token: str) -> bool:
        kind, _, duration = token.partition(":")
        return kind in KINDS and duration.isdigit()


def serve(node: str, exposed: bool) -> int:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    meta = rpc.MPS("DemoTokenizer", exposed=exposed)
    server = rpc.RpcServer(node).add(DemoTokenizer(), meta).start()
    print("ready", server.address, flush=True)
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    stop.wait()
    server.stop()
    return 0


def call(node: str, target: str, name: str, args: str) -> int:
    try:
        result = rpc.call(name, json.loads(args), address=node, target_node=target)
    except PTPError as e:
        print("error", e.code, e.message, flush=True)
        return 1
    print(json.dumps(result), flush=True)
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python3 -m mesh.rpc_demo")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--node", required=True)
    s.add_argument("--exposed", action="store_true")
    c = sub.add_parser("call")
    c.add_argument("--node", required=True)
    c.add_argument("--target-node", default="")
    c.add_argument("name")
    c.add_argument("args")
    a = p.parse_args(argv)
    if a.cmd == "serve":
        return serve(a.node, a.exposed)
    return call(a.node, a.target_node, a.name, a.args)


if __name__ == "__main__":
    sys.exit(main())
