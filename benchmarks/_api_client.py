"""``python -m benchmarks._api_client < spec.json``: the api_read_throughput load, from a
process of its own, printing its counts and latencies as JSON.

A bare asyncio HTTP/1.1 client (keep-alive, one request in flight per connection,
requests written as bytes, responses read by ``Content-Length``): on two cores the
client competes with the server for CPU, so it must cost as little as possible (httpx
costs several times more per request). Each connection draws its calls from a seeded
generator: 80% GET /api/v1/tables/{name}, 15% GET /api/v1/search?q=, 5% POST
/api/v1/query; tokens are taken round-robin per connection. Latency is from the first
byte written to the last byte of the response read.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

#: The default mix; a spec's ``mix`` may replace it (``noop``: the server's
#: ``/bench/noop`` route, the fixed cost of an authenticated call).
MIX = {"table": 80, "search": 15, "query": 5}


@dataclass
class Tally:
    ms: dict[str, list[float]] = field(default_factory=dict)
    status: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def _request(kind: str, rng: random.Random, spec: dict[str, Any], token: str) -> bytes:
    auth = f"Authorization: Bearer {token}\r\n"
    host = f"Host: 127.0.0.1:{spec['port']}\r\n"
    if kind == "table":
        path = f"/api/v1/tables/{rng.choice(spec['tables'])}"
        return f"GET {path} HTTP/1.1\r\n{host}{auth}\r\n".encode()
    if kind == "noop":
        return f"GET /bench/noop HTTP/1.1\r\n{host}{auth}\r\n".encode()
    if kind == "search":
        path = f"/api/v1/search?q={quote(rng.choice(spec['searches']))}"
        return f"GET {path} HTTP/1.1\r\n{host}{auth}\r\n".encode()
    sql = f"select id, region, amount from {rng.choice(spec['small'])} where amount > 5"
    body = json.dumps({"sql": sql}).encode()
    head = (
        f"POST /api/v1/query HTTP/1.1\r\n{host}{auth}Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _read(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """The status of one response (its body read and dropped), and whether the server
    will close the connection."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length, close = None, False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.lower()
        if name == "content-length":
            length = int(value)
        elif name == "connection" and value.strip().lower() == "close":
            close = True
    if length is None:
        raise RuntimeError(f"response without Content-Length: {lines[0]}")
    await reader.readexactly(length)
    return status, close


async def _connection(
    n: int, spec: dict[str, Any], start: float, stop: float, tally: Tally
) -> None:
    rng = random.Random(spec["seed"] * 1000 + n)
    tokens = spec["tokens"]
    mix = spec.get("mix") or MIX
    kinds, weights = list(mix), list(mix.values())
    reader, writer = await asyncio.open_connection("127.0.0.1", spec["port"])
    i = 0
    clock = time.perf_counter
    while clock() < stop:
        kind = rng.choices(kinds, weights)[0]
        data = _request(kind, rng, spec, tokens[(n + i) % len(tokens)])
        i += 1
        t0 = clock()
        writer.write(data)
        try:
            status, close = await _read(reader)
        except (OSError, asyncio.IncompleteReadError, RuntimeError) as exc:
            tally.errors.append(f"{kind}: {exc!r}")
            status, close = 599, True
        t1 = clock()
        if t0 >= start:  # after the warm-up
            tally.ms.setdefault(kind, []).append((t1 - t0) * 1000)
            tally.status[str(status)] = tally.status.get(str(status), 0) + 1
        if close:
            writer.close()
            reader, writer = await asyncio.open_connection("127.0.0.1", spec["port"])
    writer.close()


async def _run(spec: dict[str, Any]) -> dict[str, Any]:
    tally = Tally({k: [] for k in spec.get("mix") or MIX})
    now = time.perf_counter()
    start = now + spec["warmup_s"]
    stop = start + spec["seconds"]
    await asyncio.gather(
        *(_connection(n, spec, start, stop, tally) for n in range(spec["connections"]))
    )
    return {
        "seconds": spec["seconds"],
        "ms": tally.ms,
        "status": tally.status,
        "errors": tally.errors[:20],
    }


def main() -> None:
    spec = json.load(sys.stdin)
    json.dump(asyncio.run(_run(spec)), sys.stdout)


if __name__ == "__main__":
    main()
