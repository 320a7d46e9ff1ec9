"""Authenticated, rate-limited request overhead against a bare FastAPI endpoint.

The stack's trivial endpoint is ``GET /api/v1/auth/me`` called with an API key: it runs the whole
gateway (request id, tracing span, metrics, security headers, body limit), API key verification,
tenant context and both rate limits (per key and per tenant), on the same uvicorn settings as the bare
endpoint. Both servers are pinned to core 0 and wrk to core 1; the two are measured alternately in the
same run (every other round in reverse order), and each figure is the median of the rounds. The ratio
of those medians is the headline; each round's own stack/bare ratio is printed beside it, to show
how far the machine swung during the run. With PostgreSQL + Redis, the local Redis and
PostgreSQL processes are kept on wrk's core for the run (when this user may move them), so that the
stack's core is its own, as the bare endpoint's is.

    python -m bench.gateway_overhead [--rounds 3] [--seconds 8] [--modes embedded,postgres]
                                     [--baseline-src <another checkout>/src]

With ``--baseline-src``, the stack of another checkout (an earlier commit, say) is served beside this
one, on the same database and key, and measured in the same alternation: a before/after pair that
the machine's swings do not separate.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.harness import (
    BIN,
    WrkResult,
    cpu_model,
    free_port,
    one_connection,
    save,
    server,
    services_on_core,
    wrk,
)

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
UVICORN = [
    "--workers",
    "1",
    "--no-access-log",
    "--log-level",
    "warning",
    "--loop",
    "uvloop",
    "--http",
    "httptools",
]
# wrk's core (bench.harness.wrk); the servers run on core 0
LOAD_CORE = 1
BACKING_SERVICES = ("redis-server", "postgres")
# Requests timed one by one at one connection per round (bench.latency_probe).
ONE_CONNECTION_REQUESTS = 10_000
BENCH_PLAN = {
    "bench": {"requests_per_minute": 100_000_000, "api_key_requests_per_minute": 100_000_000}
}


async def _scratch_db() -> tuple[str, str, str]:
    import asyncpg

    suffix = secrets.token_hex(4)
    name, role = f"aiaas_bench_{suffix}", f"aiaas_bench_app_{suffix}"
    conn = await asyncpg.connect(PG_ADMIN)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    return name, role, f"postgresql://postgres@127.0.0.1:5432/{name}"


async def _drop_db(name: str, role: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN)
    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await conn.execute(f'DROP ROLE IF EXISTS "{role}"')
    await conn.close()


def _env(mode: str, data_dir: Path, extra: dict[str, str]) -> dict[str, str]:
    env = {
        "AIAAS_DATA_DIR": str(data_dir),
        "AIAAS_PLANS": json.dumps(BENCH_PLAN),
        "AIAAS_DEFAULT_PLAN": "bench",
        "AIAAS_TELEMETRY__LOG_LEVEL": "WARNING",
        "AIAAS_NAMESPACE": "bench" + secrets.token_hex(3),
    }
    env.update(extra)
    return env


def _api_key(env: dict[str, str]) -> str:
    """Migrate, create a tenant on the bench plan and return a fresh API key."""
    subprocess.run(
        [str(BIN / "aiaas"), "migrate", "up"],
        env={**_os_env(), **env},
        check=True,
        capture_output=True,
    )
    script = """
import asyncio
from aiaas.config import load_settings
from aiaas.platform import build_platform
from aiaas.tenancy.service import ApiKeyService, NewTenant

async def main():
    platform = build_platform(load_settings())
    try:
        tenant = await platform.tenants.create(NewTenant(slug="bench", name="Bench", plan="bench",
            owner_email="owner@bench.example", owner_password="bench-password-123"))
        async with platform.db.transaction(tenant.id) as session:
            _, raw = await ApiKeyService(session, platform.settings, platform.credentials).create(
                None, "bench", "bench", ["tenant:read"], None)
        print(raw)
    finally:
        await platform.stop()

asyncio.run(main())
"""
    out = subprocess.run(
        [str(BIN / "python"), "-c", script],
        env={**_os_env(), **env},
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip().splitlines()[-1]


def _os_env() -> dict[str, str]:
    import os

    return dict(os.environ)


def _stack_command(port: int) -> list[str]:
    return [
        str(BIN / "uvicorn"),
        "aiaas.app:create_app",
        "--factory",
        "--port",
        str(port),
        *UVICORN,
    ]


def _median(results: list[WrkResult]) -> WrkResult:
    return WrkResult(
        statistics.median(r.requests_per_second for r in results),
        statistics.median(r.p50_ms for r in results),
        statistics.median(r.p99_ms for r in results),
        sum(r.errors for r in results),
    )


def run_mode(
    mode: str, rounds: int, seconds: int, connections: int, baseline_src: str | None = None
) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="aiaas-bench-") as tmp:
        extra: dict[str, str] = {}
        scratch = None
        if mode == "postgres":
            scratch = asyncio.run(_scratch_db())
            extra = {
                "AIAAS_DATABASE_URL": scratch[2],
                "AIAAS_DATABASE_APP_ROLE": scratch[1],
                "AIAAS_REDIS_URL": "redis://127.0.0.1:6379/0",
            }
        env = _env(mode, Path(tmp), extra)
        try:
            key = _api_key(env)
            bare_port, stack_port = free_port(), free_port()
            bare_cmd = [
                str(BIN / "uvicorn"),
                "bench.bare_app:app",
                "--port",
                str(bare_port),
                *UVICORN,
            ]
            stack_cmd = _stack_command(stack_port)
            auth = {"Authorization": f"Bearer {key}"}
            samples: dict[str, list[WrkResult]] = {
                "bare_load": [],
                "stack_load": [],
                "bare_one": [],
                "stack_one": [],
                "baseline_load": [],
            }
            services = BACKING_SERVICES if mode == "postgres" else ()
            with contextlib.ExitStack() as running:
                moved = running.enter_context(services_on_core(LOAD_CORE, services))
                running.enter_context(server(bare_cmd, bare_port, env, "/bare"))
                running.enter_context(server(stack_cmd, stack_port, env, "/healthz"))
                baseline_url = None
                if baseline_src is not None:
                    baseline_port = free_port()
                    baseline_cmd = [*stack_cmd[: -len(UVICORN) - 1], str(baseline_port), *UVICORN]
                    running.enter_context(
                        server(
                            baseline_cmd,
                            baseline_port,
                            {**env, "PYTHONPATH": baseline_src},
                            "/healthz",
                        )
                    )
                    baseline_url = f"http://127.0.0.1:{baseline_port}/api/v1/auth/me"
                if services and len(moved) < len(services):
                    print(
                        f"  note: could not keep {sorted(set(services) - set(moved))} off the "
                        "servers' core; the stack's figures include their CPU"
                    )
                bare_url, stack_url = (
                    f"http://127.0.0.1:{bare_port}/bare",
                    f"http://127.0.0.1:{stack_port}/api/v1/auth/me",
                )
                # warm up (JIT-free Python still warms caches, pools and the credential cache)
                wrk(bare_url, connections=4, seconds=2, headers={})
                wrk(stack_url, connections=4, seconds=2, headers=auth)
                if baseline_url is not None:
                    wrk(baseline_url, connections=4, seconds=2, headers=auth)
                loads = [("bare_load", bare_url, {}), ("stack_load", stack_url, auth)]
                if baseline_url is not None:
                    loads.append(("baseline_load", baseline_url, auth))
                for number in range(rounds):
                    # Every other round in reverse order, so that neither server always runs
                    # first (or right after the other) as the machine's speed drifts.
                    for name, url, headers in loads if number % 2 == 0 else loads[::-1]:
                        samples[name].append(
                            wrk(url, connections=connections, seconds=seconds, headers=headers)
                        )
                    samples["bare_one"].append(
                        one_connection(bare_url, count=ONE_CONNECTION_REQUESTS, headers={})
                    )
                    samples["stack_one"].append(
                        one_connection(stack_url, count=ONE_CONNECTION_REQUESTS, headers=auth)
                    )
        finally:
            if scratch is not None:
                asyncio.run(_drop_db(scratch[0], scratch[1]))
    med = {name: _median(values) for name, values in samples.items() if values}
    # Each round's stack against the bare endpoint of the same round: the machine's slow drifts
    # cancel out of these, its swings within a round do not.
    round_ratios = sorted(
        round(stack.requests_per_second / bare.requests_per_second, 3)
        for bare, stack in zip(samples["bare_load"], samples["stack_load"], strict=True)
    )
    baseline: dict[str, object] = {}
    if "baseline_load" in med:
        baseline = {
            "baseline_src": baseline_src,
            "baseline_load": med["baseline_load"].as_dict(),
            "baseline_throughput_ratio": round(
                med["baseline_load"].requests_per_second / med["bare_load"].requests_per_second, 3
            ),
        }
    return {
        "mode": mode,
        "bare_load": med["bare_load"].as_dict(),
        "stack_load": med["stack_load"].as_dict(),
        "bare_one_connection": med["bare_one"].as_dict(),
        "stack_one_connection": med["stack_one"].as_dict(),
        "throughput_ratio": round(
            med["stack_load"].requests_per_second / med["bare_load"].requests_per_second, 3
        ),
        "round_ratios": round_ratios,
        "round_ratio_median": statistics.median(round_ratios),
        "added_p50_ms_one_connection": round(med["stack_one"].p50_ms - med["bare_one"].p50_ms, 3),
        "added_p99_ms_one_connection": round(med["stack_one"].p99_ms - med["bare_one"].p99_ms, 3),
        "added_p99_ms_under_load": round(med["stack_load"].p99_ms - med["bare_load"].p99_ms, 3),
        "rounds": rounds,
        "errors": sum(r.errors for values in samples.values() for r in values),
        **baseline,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--modes", default="embedded,postgres")
    parser.add_argument(
        "--baseline-src",
        help="the src directory of another checkout, served and measured beside this one",
    )
    args = parser.parse_args()
    report = {
        "machine": cpu_model(),
        "date": time.strftime("%Y-%m-%d"),
        "connections": args.connections,
    }
    print(
        f"gateway overhead on {report['machine']}, {args.rounds} rounds x {args.seconds}s, "
        f"{args.connections} connections for throughput, 1 for latency"
    )
    print(
        f"{'mode':10} {'bare rps':>10} {'stack rps':>10} {'ratio':>6} {'bare p50/p99 (1 conn)':>22} "
        f"{'stack p50/p99 (1 conn)':>23} {'added p99':>9}"
    )
    results: list[dict[str, Any]] = []
    report["results"] = results
    for mode in args.modes.split(","):
        result: dict[str, Any] = run_mode(
            mode.strip(), args.rounds, args.seconds, args.connections, args.baseline_src
        )
        results.append(result)
        b1, s1 = result["bare_one_connection"], result["stack_one_connection"]
        print(
            f"{mode:10} {result['bare_load']['rps']:>10} {result['stack_load']['rps']:>10} "
            f"{result['throughput_ratio']:>6} {b1['p50_ms']:>10.3f}/{b1['p99_ms']:<10.3f} "
            f"{s1['p50_ms']:>11.3f}/{s1['p99_ms']:<10.3f} {result['added_p99_ms_one_connection']:>9}"
        )
        print(
            f"{'':10} each round's stack/bare: {', '.join(map(str, result['round_ratios']))} "
            f"(median {result['round_ratio_median']})"
        )
        if "baseline_load" in result:
            print(
                f"{'':10} baseline {result['baseline_load']['rps']:>10} req/s, "
                f"ratio {result['baseline_throughput_ratio']} ({args.baseline_src})"
            )
    print(f"saved {save('gateway_overhead', report)}")


if __name__ == "__main__":
    main()
