"""Instructions per request of the bare endpoint and the stack, counted by callgrind.

Wall-clock throughput on a shared machine swings by a factor of three from one hour to the next; the
instructions a request executes hardly move (about 1% between runs). This serves the bare endpoint
and the stack's ``GET /api/v1/auth/me`` (as ``bench.gateway_overhead`` does) under ``valgrind
--tool=callgrind``, counts only while wrk drives each server, and prints the instructions per request
and the bare/stack ratio. ``--src`` adds the stack of other checkouts, to compare commits.

The counts are user space only: the kernel's part of a request (socket reads and writes) is not in
them, so they show where the stack's own time goes, and the target itself is judged by
``bench.gateway_overhead``. Slowed down some fifty times, the servers batch fewer concurrent
requests than at full speed, which makes the Redis limiter's share (``--mode postgres``) look larger
than it is.

    python -m bench.instructions [--mode embedded|postgres] [--seconds 20] [--src <checkout>/src]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from bench.gateway_overhead import UVICORN, _api_key, _drop_db, _env, _scratch_db
from bench.harness import BIN, ROOT, cpu_model, free_port, pin

# valgrind starts Python some fifty times slower than usual
START_TIMEOUT_SECONDS = 300


def _count(
    app: list[str], path: str, env: dict[str, str], headers: list[str], seconds: int
) -> tuple[int, int]:
    """(requests served, instructions counted) of one server driven by wrk for ``seconds``."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="aiaas-callgrind-") as tmp:
        out = Path(tmp) / "callgrind.out"
        log = Path(tmp) / "server.log"
        with log.open("w") as log_file:
            proc = subprocess.Popen(
                [
                    *pin(0),
                    "valgrind",
                    "--tool=callgrind",
                    "--instr-atstart=no",
                    f"--callgrind-out-file={out}",
                    str(BIN / "python"),
                    str(BIN / "uvicorn"),
                    *app,
                    "--port",
                    str(port),
                    *UVICORN,
                ],
                env=env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
            )
            try:
                url = f"http://127.0.0.1:{port}{path}"
                _wait_until_served(url, headers, proc, log)
                wrk = [*pin(1), "wrk", "-t1", "-c8", *headers]
                subprocess.run([*wrk, "-d3s", url], capture_output=True, check=True)
                subprocess.run(
                    ["callgrind_control", "-i", "on", str(proc.pid)],
                    check=True,
                    capture_output=True,
                )
                report = subprocess.run(
                    [*wrk, f"-d{seconds}s", url], capture_output=True, text=True, check=True
                ).stdout
                subprocess.run(
                    ["callgrind_control", "-i", "off", str(proc.pid)],
                    check=True,
                    capture_output=True,
                )
            finally:
                proc.terminate()
                proc.wait(120)
        if "Non-2xx" in report:
            raise SystemExit(f"{path} answered with errors under load:\n{report}")
        requests = int(re.search(r"(\d+) requests in", report).group(1))  # type: ignore[union-attr]
        totals = re.search(r"^totals: (\d+)", out.read_text(), re.MULTILINE)
        if totals is None:
            raise SystemExit(f"callgrind wrote no totals; see {log}")
        return requests, int(totals.group(1))


def _wait_until_served(
    url: str, headers: list[str], proc: subprocess.Popen[bytes], log: Path
) -> None:
    names_values = [h.split(": ", 1) for h in headers[1::2]]
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server stopped:\n{log.read_text()[-2000:]}")
        try:
            if httpx.get(url, headers=dict(names_values), timeout=10).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise SystemExit(f"{url} did not answer within {START_TIMEOUT_SECONDS} s")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mode", choices=("embedded", "postgres"), default="embedded")
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument(
        "--src", action="append", default=[], help="another checkout's src directory to count"
    )
    args = parser.parse_args()
    for tool in ("valgrind", "callgrind_control", "wrk"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is needed: apt-get install -y valgrind wrk")
    with tempfile.TemporaryDirectory(prefix="aiaas-bench-") as tmp:
        extra: dict[str, str] = {}
        scratch = None
        if args.mode == "postgres":
            scratch = asyncio.run(_scratch_db())
            extra = {
                "AIAAS_DATABASE_URL": scratch[2],
                "AIAAS_DATABASE_APP_ROLE": scratch[1],
                "AIAAS_REDIS_URL": "redis://127.0.0.1:6379/0",
            }
        env = {**os.environ, **_env(args.mode, Path(tmp), extra)}
        try:
            auth = ["-H", f"Authorization: Bearer {_api_key(env)}"]
            stack = ["aiaas.app:create_app", "--factory"]
            targets = [
                ("bare", ["bench.bare_app:app"], "/bare", env, []),
                ("stack", stack, "/api/v1/auth/me", env, auth),
            ]
            targets += [
                (src, stack, "/api/v1/auth/me", {**env, "PYTHONPATH": src}, auth)
                for src in args.src
            ]
            print(f"instructions per request on {cpu_model()}, {args.mode}, {args.seconds} s each")
            bare_per_request = None
            for label, app, path, target_env, headers in targets:
                requests, instructions = _count(app, path, target_env, headers, args.seconds)
                per_request = instructions // requests
                bare_per_request = bare_per_request or per_request
                print(
                    f"{label:>12}: {per_request:>10,} per request ({requests} requests), "
                    f"bare/this {bare_per_request / per_request:.3f}"
                )
        finally:
            if scratch is not None:
                asyncio.run(_drop_db(scratch[0], scratch[1]))


if __name__ == "__main__":
    main()
