"""One connection, one request at a time: exact per-request latency percentiles.

wrk's latency statistics at a single connection do not add up on this machine (its mean times
its request rate came to a third of the run), so the one-connection figures of the gateway
benchmark are measured here: a keep-alive HTTP/1.1 connection, each response read to its last
byte before the next request is sent, every request timed.

    python -m bench.latency_probe http://127.0.0.1:8000/api/v1/auth/me -H "Authorization: Bearer ..." \
        [--count 5000] [--warmup 200]
"""

from __future__ import annotations

import argparse
import json
import socket
import time
from urllib.parse import urlsplit


def _read_response(sock: socket.socket, buffer: bytes) -> tuple[int, bytes]:
    """Read one response with a content-length body; return its status and the bytes after it."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        buffer += chunk
    head, _, rest = buffer.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = next(
        int(line.split(b":", 1)[1]) for line in lines if line.lower().startswith(b"content-length")
    )
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        rest += chunk
    return status, rest[length:]


def measure(url: str, headers: dict[str, str], count: int, warmup: int) -> dict[str, float]:
    """Latency percentiles in milliseconds over ``count`` sequential GETs of ``url``."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    lines = [f"GET {parts.path or '/'} HTTP/1.1", f"Host: {parts.netloc}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    buffer, errors, samples = b"", 0, []
    try:
        for index in range(warmup + count):
            started = time.perf_counter()
            sock.sendall(request)
            status, buffer = _read_response(sock, buffer)
            elapsed = time.perf_counter() - started
            errors += status >= 400
            if index >= warmup:
                samples.append(elapsed * 1000)
    finally:
        sock.close()
    samples.sort()
    return {
        "p50_ms": round(samples[len(samples) // 2], 3),
        "p99_ms": round(samples[int(len(samples) * 0.99)], 3),
        "p999_ms": round(samples[int(len(samples) * 0.999)], 3),
        "max_ms": round(samples[-1], 3),
        "requests_per_second": round(len(samples) / (sum(samples) / 1000), 1),
        "errors": errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("-H", "--header", action="append", default=[])
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--warmup", type=int, default=200)
    args = parser.parse_args()
    headers = dict(item.split(": ", 1) for item in args.header)
    print(json.dumps(measure(args.url, headers, args.count, args.warmup)))


if __name__ == "__main__":
    main()
