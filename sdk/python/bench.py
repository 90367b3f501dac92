#!/usr/bin/env python3
"""Push→pop throughput of the Python SDK against a real node.

    python3 sdk/python/bench.py                      # builds mesh, runs a temporary node
    python3 sdk/python/bench.py --address 127.0.0.1:7304

A producer thread pushes N messages while a consumer thread pops them, one
session per row; the row's time runs from the first push to the last pop.
"one" pushes one message per call; "pipelined" uses push_many (HTTP
pipelining, --window in flight). Prints a table, then one JSON line per row.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import mesh  # noqa: E402


def start_node(binary: str):
    home = tempfile.mkdtemp(prefix="mesh-bench-")
    log = open(os.path.join(home, "log"), "wb")
    p = subprocess.Popen([binary, "start", "--listen", "127.0.0.1:0", "--home", home], stdout=log, stderr=log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        m = re.search(rb"(?:^| )listen=(\S+)", open(os.path.join(home, "log"), "rb").read())
        if m:
            return p, home, m.group(1).decode()
        if p.poll() is not None:
            break
        time.sleep(0.1)
    p.kill()
    raise SystemExit(f"the node did not start; see {home}/log")


def row(client: mesh.Client, size: int, n: int, mode: str, window: int) -> dict:
    """One row: n messages of size bytes through client, pushed in mode."""
    s = client.session("bench-" + uuid.uuid4().hex[:8])
    body = os.urandom(size)
    got = []

    def consume():
        for _ in range(n):
            got.append(s.pop("t", 60.0))

    t = threading.Thread(target=consume)
    start = time.perf_counter()
    t.start()
    if mode == "pipelined":
        s.push_many("t", (body for _ in range(n)), window=window)
    else:
        for _ in range(n):
            s.push("t", body)
    t.join()
    secs = time.perf_counter() - start
    s.release()
    if len(got) != n or any(g != body for g in got):
        raise SystemExit(f"{mode} {size} B: lost or changed messages")
    return {"size": size, "transport": client.transport, "mode": mode, "window": window if mode == "pipelined" else 1, "messages": n,
            "seconds": round(secs, 3), "msgs_per_s": round(n / secs), "mb_per_s": round(n * size / secs / 1e6, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--address", help="a running node (default: start one)")
    ap.add_argument("--mesh-bin", help="mesh binary for the temporary node (default: go build)")
    ap.add_argument("--small", type=int, default=3000, help="1 KiB messages per row")
    ap.add_argument("--large", type=int, default=200, help="1 MiB messages per row")
    ap.add_argument("--window", type=int, default=8)
    ap.add_argument("--transports", default="http,grpc", help="comma-separated; grpc rows need grpcio")
    a = ap.parse_args()
    proc = home = None
    addr = a.address
    if not addr:
        binary = a.mesh_bin
        if not binary:
            binary = os.path.join(tempfile.mkdtemp(prefix="mesh-bin-"), "mesh")
            subprocess.run(["go", "build", "-o", binary, "./cmd/mesh"], cwd=HERE.parents[1], check=True)
        proc, home, addr = start_node(binary)
    try:
        rows = []
        for transport in a.transports.split(","):
            try:
                c = mesh.Client(addr, timeout=120, transport=transport)
            except ImportError as e:
                print(f"skipping {transport}: {e}", file=sys.stderr)
                continue
            with c:
                # push_many always pipelines over HTTP: the pipelined rows are HTTP's
                modes = ("one", "pipelined") if transport == "http" else ("one",)
                rows += [row(c, size, n, mode, a.window)
                         for size, n in ((1024, a.small), (1 << 20, a.large)) for mode in modes]
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(30)
            shutil.rmtree(home, ignore_errors=True)
    print(f"{'size':>8} {'transport':>9} {'mode':>10} {'window':>6} {'msgs':>6} {'msg/s':>8} {'MB/s':>8}")
    for r in rows:
        print(f"{r['size']:>8} {r['transport']:>9} {r['mode']:>10} {r['window']:>6} {r['messages']:>6} "
              f"{r['msgs_per_s']:>8} {r['mb_per_s']:>8}")
    for r in rows:
        print(json.dumps({"bench": "python-sdk", **r}))


if __name__ == "__main__":
    main()
