"""Realtime and chat benchmarks: idle WebSockets held, broadcast fan-out, chat turns through REST,
and the OpenAI-compatible surface as a gateway.

Servers are pinned to core 0; clients, wrk and the fake LLM upstream to core 1. The platform runs
embedded (SQLite, in-process bus, cache and limiter) on a plan whose limits never refuse, so auth,
rate limiting, routing and metering run their full path on every request.

    python -m bench.realtime [--idle 10000] [--fanout 1000] [--seconds 8] [--rounds 3]
    python -m bench.realtime upstream --port N       # the fake OpenAI-compatible upstream
    python -m bench.realtime serve --port N          # the platform, turns answered by the LLM
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import uvloop

from bench.gateway_overhead import BENCH_PLAN, UVICORN
from bench.harness import BIN, cpu_model, free_port, pin, save, server

# ---- the fake upstream: an OpenAI-compatible endpoint answering at once ---------------------------
ANSWER = "Our return window is 30 days from delivery."


def _completion(model: str) -> bytes:
    return json.dumps(
        {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": 0,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": ANSWER},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 20, "completion_tokens": 9, "total_tokens": 29},
        }
    ).encode()


def _stream(model: str) -> bytes:
    chunks = []
    words = ANSWER.split(" ")
    for i, word in enumerate(words):
        delta = {"content": word + (" " if i < len(words) - 1 else "")}
        if i == 0:
            delta["role"] = "assistant"
        chunks.append(
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
            }
        )
    chunks.append(
        {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": model,
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 20, "completion_tokens": 9, "total_tokens": 29},
        }
    )
    body = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks)
    return body + b"data: [DONE]\n\n"


async def _upstream(port: int) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = (
                    int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))
                    if b"ength" in head
                    else 0
                )  # type: ignore[union-attr]
                body = await reader.readexactly(length) if length else b""
                request = json.loads(body) if body else {}
                model = str(request.get("model") or "gpt-4o-mini")
                if request.get("stream"):
                    payload, kind = _stream(model), b"text/event-stream"
                else:
                    payload, kind = _completion(model), b"application/json"
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: " + kind
                    + b"\r\ncontent-length: " + str(len(payload)).encode() + b"\r\n\r\n" + payload
                )  # fmt: skip
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
    async with srv:
        await srv.serve_forever()


# ---- the platform server: chat turns answered by the LLM, behind the real stack ----------------
async def _serve(port: int, deflate: bool) -> None:
    import uvicorn

    from aiaas.app import create_app
    from aiaas.chat.responder import DirectLLMEngine
    from aiaas.config import load_settings
    from aiaas.platform import build_platform

    settings = load_settings()
    platform = build_platform(settings)
    await platform.start(events=settings.run_events_in_process)
    # Turns go straight to the (fake) model: the bench measures the chat path, not a workflow.
    platform.chat.use(engine=DirectLLMEngine(platform.llm))
    app = create_app(settings, platform=platform)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", access_log=False,
        loop="uvloop", http="httptools", ws="websockets-sansio", lifespan="on",
        ws_ping_interval=None, ws_per_message_deflate=deflate,
        ws_max_size=settings.chat.ws_max_message_bytes,
    )  # fmt: skip
    try:
        await uvicorn.Server(config).serve()
    finally:
        await platform.stop()


# ---- set-up --------------------------------------------------------------------------------------
def _env(data_dir: Path, upstream: int) -> dict[str, str]:
    return {
        **os.environ,
        "AIAAS_DATA_DIR": str(data_dir),
        "AIAAS_PLANS": json.dumps(BENCH_PLAN),
        "AIAAS_DEFAULT_PLAN": "bench",
        "AIAAS_TELEMETRY__LOG_LEVEL": "WARNING",
        "AIAAS_LLM__PROVIDER": "openai",
        "AIAAS_LLM__BASE_URL": f"http://127.0.0.1:{upstream}/v1",
        "AIAAS_LLM__API_KEY": "bench",
        "AIAAS_LLM__MAX_RETRIES": "0",
        "AIAAS_CHAT__WS_HEARTBEAT_SECONDS": "3600",
        # The API replica only writes events (outbox); a worker process consumes them, as in production.
        "AIAAS_EVENTS__RUN_IN_PROCESS": "false",
    }


SETUP = """
import asyncio, json
from aiaas.config import load_settings
from aiaas.platform import build_platform
from aiaas.tenancy.permissions import PERMISSIONS
from aiaas.tenancy.service import ApiKeyService, NewTenant

async def main():
    platform = build_platform(load_settings())
    try:
        tenant = await platform.tenants.create(NewTenant(slug="bench", name="Bench", plan="bench",
            owner_email="owner@bench.example", owner_password="bench-password-123"))
        async with platform.db.transaction(tenant.id) as session:
            _, raw = await ApiKeyService(session, platform.settings, platform.credentials).create(
                None, "bench", "bench", sorted(PERMISSIONS), None)
        print(json.dumps({"key": raw}))
    finally:
        await platform.stop()

asyncio.run(main())
"""


def _setup(env: dict[str, str]) -> str:
    subprocess.run([str(BIN / "aiaas"), "migrate", "up"], env=env, check=True, capture_output=True)
    out = subprocess.run(
        [str(BIN / "python"), "-c", SETUP], env=env, check=True, capture_output=True, text=True
    )
    return str(json.loads(out.stdout.strip().splitlines()[-1])["key"])


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _server_pid(port: int) -> int:
    out = subprocess.run(["ss", "-ltnpH", f"sport = :{port}"], capture_output=True, text=True)
    return int(re.search(r"pid=(\d+)", out.stdout).group(1))  # type: ignore[union-attr]


# ---- wrk with a request body -----------------------------------------------------------------------
def _wrk(
    url: str, *, connections: int, seconds: int, headers: dict[str, str], body: str | None
) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        if body is not None:
            script.write(f"wrk.method = 'POST'\nwrk.body = {json.dumps(body)}\n")
            script.write("wrk.headers['Content-Type'] = 'application/json'\n")
    args = [
        *pin(1),
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{seconds}s",
        "--latency",
        "--timeout",
        "10s",
        "-s",
        script.name,
    ]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    out = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout
    os.unlink(script.name)
    units = {"us": 0.001, "ms": 1.0, "s": 1000.0}

    def ms(pct: str) -> float:
        raw = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)", out, re.MULTILINE)
        return float(raw.group(1)) * units[raw.group(2)]  # type: ignore[union-attr]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),  # type: ignore[union-attr]
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50_ms": ms("50"),
        "p99_ms": ms("99"),
        "errors": int(errors.group(1)) if errors else 0,
    }


def _median(runs: list[dict[str, float]]) -> dict[str, float]:
    return {k: round(statistics.median(r[k] for r in runs), 3) for k in runs[0]}


# ---- WebSocket clients (run in this process, pinned to core 1) -----------------------------------
async def _idle(base: str, key: str, count: int, pid: int) -> dict[str, Any]:
    from websockets.asyncio.client import connect

    before = _rss_kib(pid)
    sockets = []
    started = time.perf_counter()
    for start in range(0, count, 200):
        batch = [
            connect(f"{base}/ws/chat?token={key}", ping_interval=None, open_timeout=60)
            for _ in range(min(200, count - start))
        ]
        opened = await asyncio.gather(*batch)
        await asyncio.gather(*(ws.recv() for ws in opened))  # hello: authenticated and registered
        sockets += opened
    took = time.perf_counter() - started
    await asyncio.sleep(2)
    after = _rss_kib(pid)
    alive = sum(1 for ws in sockets if ws.state.name == "OPEN")
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    return {
        "connections": count,
        "open_after_2s": alive,
        "connect_seconds": round(took, 1),
        "server_rss_before_mib": round(before / 1024, 1),
        "server_rss_after_mib": round(after / 1024, 1),
        "kib_per_connection": round((after - before) / count, 1),
    }


async def _fanout(base: str, http: str, key: str, count: int, rounds: int) -> dict[str, Any]:
    from websockets.asyncio.client import connect

    auth = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=http, headers=auth, timeout=30) as client:
        made = await client.post("/api/v1/chat/conversations", json={"end_user_id": "fan"})
        conversation = made.json()["id"]
        await client.post(f"/api/v1/chat/conversations/{conversation}/handoff")
        await client.post(f"/api/v1/chat/inbox/{conversation}/claim")
        sockets = []
        for start in range(0, count, 200):
            batch = [
                connect(
                    f"{base}/ws/chat?token={key}&conversation_id={conversation}", ping_interval=None
                )
                for _ in range(min(200, count - start))
            ]
            sockets += await asyncio.gather(*batch)
        for ws in sockets:  # hello, replayed
            await ws.recv()
            await ws.recv()
        latencies: list[float] = []

        async def wait_for(ws: Any, text: str, sent_at: float) -> None:
            while True:
                frame = json.loads(await ws.recv())
                if frame["type"] == "message" and frame["message"]["content"] == text:
                    latencies.append((time.perf_counter() - sent_at) * 1000)
                    return

        for n in range(rounds):
            text = f"broadcast {n}"
            sent_at = time.perf_counter()
            waiters = [asyncio.create_task(wait_for(ws, text, sent_at)) for ws in sockets]
            reply = await client.post(
                f"/api/v1/chat/inbox/{conversation}/reply", json={"content": text}
            )
            assert reply.status_code == 201, reply.text
            await asyncio.wait_for(asyncio.gather(*waiters), 60)
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    latencies.sort()
    return {
        "clients": count,
        "broadcasts": rounds,
        "p50_ms": round(latencies[len(latencies) // 2], 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1], 2),
        "max_ms": round(latencies[-1], 2),
        "note": "agent reply POST -> frame at every client; includes the REST call and its commit",
    }


# ---- the OpenAI-compatible gateway -----------------------------------------------------------------
def _gateway(
    targets: dict[str, tuple[str, int, dict[str, str]]],
    upstream_url: str,
    rounds: int,
    seconds: int,
) -> dict[str, Any]:
    """Each target (url, server pid, auth) measured in turn per round: one connection for the
    added latency, 32 for throughput and the server's CPU time per request."""
    completion = {
        "model": "auto",
        "messages": [{"role": "user", "content": "What is the return window?"}],
    }
    modes = (("non_streaming", completion), ("streaming", {**completion, "stream": True}))
    for url, _pid, auth in targets.values():
        for _name, body in modes:
            _wrk(url, connections=4, seconds=2, headers=auth, body=json.dumps(body))
    samples: dict[str, list[dict[str, float]]] = {}
    for _ in range(rounds):
        for name, body in modes:
            raw = json.dumps(body)
            samples.setdefault(f"{name}_direct_one", []).append(
                _wrk(upstream_url, connections=1, seconds=seconds, headers={}, body=raw)
            )
            for label, (url, pid, auth) in targets.items():
                samples.setdefault(f"{label}:{name}_one", []).append(
                    _wrk(url, connections=1, seconds=seconds, headers=auth, body=raw)
                )
                cpu_before = _cpu_seconds(pid)
                load = _wrk(url, connections=32, seconds=seconds, headers=auth, body=raw)
                # CPU time per request of the server process: what one dedicated core can
                # serve, much less sensitive to other jobs on a shared machine than req/s.
                load["cpu_ms_per_request"] = (
                    (_cpu_seconds(pid) - cpu_before) * 1000 / max(load["requests"], 1)
                )
                samples.setdefault(f"{label}:{name}_load", []).append(load)
    med = {k: _median(v) for k, v in samples.items()}
    out: dict[str, Any] = {}
    for label in targets:
        out[label] = {}
        for name, _body in modes:
            one, load, direct = (
                med[f"{label}:{name}_one"],
                med[f"{label}:{name}_load"],
                med[f"{name}_direct_one"],
            )
            out[label][name] = {
                "rps_32_connections": load["rps"],
                "server_cpu_ms_per_request": load["cpu_ms_per_request"],
                "rps_one_core_cpu_bound": round(1000 / load["cpu_ms_per_request"], 1),
                "p50_ms_one_connection": one["p50_ms"],
                "upstream_direct_p50_ms": direct["p50_ms"],
                "added_p50_ms": round(one["p50_ms"] - direct["p50_ms"], 3),
                "errors": sum(
                    r["errors"]
                    for k, v in samples.items()
                    if k.startswith(f"{label}:{name}")
                    for r in v
                ),
            }
    if "baseline" in out:
        new, old = out["platform"], out["baseline"]
        out["ratios"] = {
            name: {
                "cpu_per_request_baseline_over_platform": round(
                    old[name]["server_cpu_ms_per_request"] / new[name]["server_cpu_ms_per_request"],
                    2,
                ),
                "rps_32_platform_over_baseline": round(
                    new[name]["rps_32_connections"] / old[name]["rps_32_connections"], 2
                ),
                "added_p50_baseline_over_platform": round(
                    old[name]["added_p50_ms"] / max(new[name]["added_p50_ms"], 0.001), 2
                ),
            }
            for name, _body in modes
        }
    return out


# ---- the run -------------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> dict[str, Any]:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    os.sched_setaffinity(0, {1})
    report: dict[str, Any] = {"machine": cpu_model(), "date": time.strftime("%Y-%m-%d")}
    with tempfile.TemporaryDirectory(prefix="aiaas-bench-rt-") as tmp:
        up_port, port, bare_port = free_port(), free_port(), free_port()
        env = _env(Path(tmp), up_port)
        key = _setup(env)
        py = str(BIN / "python")
        upstream_cmd = [py, "-m", "bench.realtime", "upstream", "--port", str(up_port)]
        serve_cmd = [py, "-m", "bench.realtime", "serve", "--port", str(port)]
        serve_cmd.append("--deflate" if args.deflate else "--no-deflate")
        only = set(args.only.split(","))
        report["server_permessage_deflate"] = args.deflate
        bare_cmd = [str(BIN / "uvicorn"), "bench.bare_app:app", "--port", str(bare_port), *UVICORN]
        auth = {"Authorization": f"Bearer {key}"}
        baseline: tuple[int, str] | None = None
        with contextlib.ExitStack() as servers:
            servers.enter_context(server(upstream_cmd, up_port, env, "/health", core=1))
            servers.enter_context(server(serve_cmd, port, env, "/healthz", core=0))
            servers.enter_context(server(bare_cmd, bare_port, env, "/bare", core=0))
            if args.baseline_src:
                # Another source tree (e.g. the previous code) served side by side with the same
                # settings, measured alternately with this one: ratios from the same conditions.
                (Path(tmp) / "baseline").mkdir()
                b_env = {**_env(Path(tmp) / "baseline", up_port), "PYTHONPATH": args.baseline_src}
                b_port = free_port()
                b_cmd = [py, "-m", "bench.realtime", "serve", "--port", str(b_port)]
                b_cmd.append("--deflate" if args.deflate else "--no-deflate")
                b_key = _setup(b_env)
                servers.enter_context(server(b_cmd, b_port, b_env, "/healthz", core=0))
                baseline = (b_port, b_key)
            http = f"http://127.0.0.1:{port}"
            pid = _server_pid(port)
            # -- OpenAI-compatible gateway
            if "gateway" in only:
                targets = {"platform": (f"{http}/v1/chat/completions", pid, auth)}
                if baseline is not None:
                    b_port, b_key = baseline
                    targets["baseline"] = (
                        f"http://127.0.0.1:{b_port}/v1/chat/completions",
                        _server_pid(b_port),
                        {"Authorization": f"Bearer {b_key}"},
                    )
                upstream_url = f"http://127.0.0.1:{up_port}/v1/chat/completions"
                measured = _gateway(targets, upstream_url, args.rounds, args.seconds)
                report["openai_gateway"] = measured.pop("platform")
                if baseline is not None:
                    report["baseline_src"] = args.baseline_src
                    report["openai_gateway_baseline"] = measured["baseline"]
                    report["openai_gateway_ratios"] = measured["ratios"]
            # -- chat turns through REST vs the bare endpoint
            made = httpx.post(
                f"{http}/api/v1/chat/conversations", headers=auth, json={"end_user_id": "bench"}
            )
            turn_url = f"{http}/api/v1/chat/conversations/{made.json()['id']}/messages"
            turn_body = json.dumps({"content": "What is the return window?"})
            turns: list[dict[str, float]] = []
            bare: list[dict[str, float]] = []
            for _ in range(args.rounds if "turns" in only else 0):
                turns.append(
                    _wrk(
                        turn_url, connections=8, seconds=args.seconds, headers=auth, body=turn_body
                    )
                )
                bare.append(
                    _wrk(
                        f"http://127.0.0.1:{bare_port}/bare",
                        connections=8,
                        seconds=args.seconds,
                        headers={},
                        body=None,
                    )
                )
            report["chat_turns"] = (
                {}
                if not turns
                else {
                    "turns_per_second": _median(turns)["rps"],
                    "turn_p50_ms": _median(turns)["p50_ms"],
                    "bare_endpoint_rps": _median(bare)["rps"],
                    "errors": sum(r["errors"] for r in turns),
                    "connections": 8,
                }
            )
            # -- WebSockets
            base = f"ws://127.0.0.1:{port}"
            if "fanout" in only:
                report["fanout"] = asyncio.run(_fanout(base, http, key, args.fanout, 20))
            if "idle" in only:
                report["idle"] = asyncio.run(_idle(base, key, args.idle, pid))
    return report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", nargs="?", default="run", choices=["run", "upstream", "serve"])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--idle", type=int, default=10_000)
    parser.add_argument("--fanout", type=int, default=1_000)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--deflate",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="permessage-deflate on the server (costs memory per connection)",
    )
    parser.add_argument("--only", default="gateway,turns,fanout,idle")
    parser.add_argument(
        "--baseline-src",
        default="",
        help="a source tree (its src/ directory) served as a second platform and measured"
        " alternately with this one on the gateway path, e.g. a copy of the previous code",
    )
    args = parser.parse_args()
    # uvloop, as `aiaas serve` runs (uvicorn's default loop when uvloop is installed).
    if args.command == "upstream":
        uvloop.run(_upstream(args.port))
        return
    if args.command == "serve":
        uvloop.run(_serve(args.port, args.deflate))
        return
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install -y wrk")
    report = run(args)
    print(json.dumps(report, indent=2))
    print(f"saved {save('realtime', report)}")


if __name__ == "__main__":
    main()
