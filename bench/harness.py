"""Shared pieces of the benchmarks: free ports, server processes pinned to a core, wrk runs."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def pin(core: int) -> list[str]:
    """A command prefix pinning a process to one core (when taskset exists)."""
    return ["taskset", "-c", str(core)] if shutil.which("taskset") else []


def _threads_named(names: tuple[str, ...]) -> dict[int, str]:
    """Thread id -> process name of every thread of the local processes called one of ``names``."""
    found: dict[int, str] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            name = (proc / "comm").read_text().strip()
            if name in names:
                found.update({int(task.name): name for task in (proc / "task").iterdir()})
        except OSError:
            continue  # gone meanwhile
    return found


@contextlib.contextmanager
def services_on_core(core: int, names: tuple[str, ...]) -> Iterator[list[str]]:
    """Keep the local processes called one of ``names`` on ``core`` for the block, then undo it.

    Servers under test are pinned to core 0 and the load generator to core 1. A backing service
    left free to run anywhere (Redis, PostgreSQL) is then also scheduled on core 0, where it takes
    CPU from the stack and never from the bare endpoint, which does not use it. Yields the names of
    the services moved; one this process may not move (another user's) is left where it is.
    Processes started during the block (a new PostgreSQL backend) inherit the core; they are
    given back every core the machine has.
    """
    moved: dict[int, set[int]] = {}
    every_core = set(range(os.cpu_count() or 1))
    service_names: set[str] = set()
    for tid, name in _threads_named(names).items():
        try:
            moved[tid] = os.sched_getaffinity(tid)
            os.sched_setaffinity(tid, {core})
            service_names.add(name)
        except OSError:
            moved.pop(tid, None)
    try:
        yield sorted(service_names)
    finally:
        for tid in _threads_named(names):
            with contextlib.suppress(OSError):
                os.sched_setaffinity(tid, moved.get(tid, every_core))


@contextlib.contextmanager
def server(
    args: list[str], port: int, env: dict[str, str], health: str, core: int = 0
) -> Iterator[None]:
    """Run a server process pinned to ``core`` until the block ends; wait until ``health`` answers."""
    logs = ROOT / "bench" / "results"
    logs.mkdir(exist_ok=True)
    log = open(logs / f"server-{port}.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [*pin(core), *args], env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}{health}", timeout=1).status_code < 500:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"server on {port} did not start; see bench/results/server-{port}.log"
                )
            time.sleep(0.2)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@dataclass
class WrkResult:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int

    def as_dict(self) -> dict[str, float]:
        return {
            "rps": round(self.requests_per_second, 1),
            "p50_ms": round(self.p50_ms, 3),
            "p99_ms": round(self.p99_ms, 3),
            "errors": self.errors,
        }


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    match = re.match(r"([\d.]+)(us|ms|s)", text)
    if not match:
        raise ValueError(f"cannot read latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def wrk(
    url: str, *, connections: int, seconds: int, headers: dict[str, str], core: int = 1
) -> WrkResult:
    """Run wrk against ``url`` on ``core`` and read req/s and the 50th/99th latency percentiles."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed for the benchmarks: apt-get install -y wrk")
    args = [
        *pin(core),
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{seconds}s",
        "--latency",
        "--timeout",
        "5s",
    ]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    out = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.MULTILINE).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.MULTILINE).group(1))  # type: ignore[union-attr]
    errors = 0
    for pattern in (
        r"Non-2xx or 3xx responses: (\d+)",
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
    ):
        found = re.search(pattern, out)
        if found:
            errors += sum(int(g) for g in found.groups())
    return WrkResult(rps, p50, p99, errors)


def one_connection(url: str, *, count: int, headers: dict[str, str], core: int = 1) -> WrkResult:
    """Latency at one connection, each request timed (``bench.latency_probe``), on ``core``."""
    args = [
        *pin(core),
        str(BIN / "python"),
        "-m",
        "bench.latency_probe",
        url,
        "--count",
        str(count),
    ]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    out = subprocess.run(args, capture_output=True, text=True, check=True, cwd=ROOT).stdout
    figures = json.loads(out.strip().splitlines()[-1])
    return WrkResult(
        figures["requests_per_second"], figures["p50_ms"], figures["p99_ms"], figures["errors"]
    )


def save(name: str, data: dict[str, object]) -> Path:
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    path = out / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(data, indent=2))
    return path
