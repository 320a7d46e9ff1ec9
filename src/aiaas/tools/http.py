"""Calling HTTP tools: URL templating, secrets, timeouts, retries with jitter (idempotent tools
only), a circuit breaker and a bulkhead per (tenant, tool), idempotency keys on side effects."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from aiaas.kit.resilience import (
    Bulkhead,
    CircuitBreaker,
    CircuitOpenError,
    RetryPolicy,
    parse_retry_after,
    retry_async,
)
from aiaas.tools.config import ToolSettings
from aiaas.tools.errors import (
    ToolCallFailed,
    ToolInputInvalid,
    ToolRejected,
    ToolSecretMissing,
)
from aiaas.tools.manifest import PLACEHOLDER, SECRET_REF, ToolManifest

log = logging.getLogger(__name__)
RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


class _RetryableStatus(Exception):
    def __init__(self, status: int, retry_after: float | None, body: str) -> None:
        super().__init__(f"HTTP {status}: {body[:200]}")
        self.status = status
        self.retry_after = retry_after


def idempotency_key(
    tenant_id: str, scope: str, manifest: ToolManifest, args: Mapping[str, Any]
) -> str:
    """The same key for the same call of the same run, so a retried side effect happens once."""
    canonical = json.dumps(args, sort_keys=True, separators=(",", ":"), default=str)
    raw = f"{tenant_id}|{scope}|{manifest.name}|{manifest.version}|{canonical}"
    return hashlib.sha256(raw.encode()).hexdigest()


def render_url(template: str, args: Mapping[str, Any]) -> tuple[str, set[str]]:
    """The URL with path placeholders filled (percent-encoded), and the argument names used."""
    used: set[str] = set()

    def fill(match: Any) -> str:
        name = match.group(1)
        value = args.get(name)
        if value is None or isinstance(value, dict | list):
            raise ToolInputInvalid(f"argument {name!r} must be a scalar to fill the URL")
        used.add(name)
        return quote(str(value), safe="")

    parts = urlsplit(template)
    path = PLACEHOLDER.sub(fill, parts.path)
    return parts._replace(path=path).geturl(), used


class HttpToolAdapter:
    """One per platform: a shared HTTP client and the breakers and bulkheads of every tool."""

    def __init__(
        self,
        settings: ToolSettings,
        *,
        secrets: Mapping[str, str] | None = None,
        mounts: Mapping[str, httpx.AsyncBaseTransport] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self._secrets = dict(secrets or {})
        self._client = httpx.AsyncClient(
            transport=transport,
            mounts=dict(mounts or {}),
            follow_redirects=False,
            headers={"user-agent": "aiaas-tools/1"},
        )
        self._breakers: dict[tuple[str, str], CircuitBreaker] = {}
        self._bulkheads: dict[tuple[str, str], Bulkhead] = {}

    async def close(self) -> None:
        await self._client.aclose()

    def breaker(self, tenant_id: str, tool: str) -> CircuitBreaker:
        key = (tenant_id, tool)
        found = self._breakers.get(key)
        if found is None:
            found = self._breakers[key] = CircuitBreaker(
                f"tool {tool}",
                failure_threshold=self.settings.breaker_failure_threshold,
                recovery_seconds=self.settings.breaker_recovery_seconds,
            )
        return found

    def bulkhead(self, tenant_id: str, tool: str) -> Bulkhead:
        key = (tenant_id, tool)
        found = self._bulkheads.get(key)
        if found is None:
            found = self._bulkheads[key] = Bulkhead(
                f"tool {tool}",
                max_concurrent=self.settings.max_concurrent_calls,
                max_waiting=self.settings.max_waiting_calls,
                max_wait_seconds=self.settings.max_timeout_seconds,
            )
        return found

    def _headers(self, tenant_id: str, manifest: ToolManifest) -> dict[str, str]:
        assert manifest.http is not None
        headers: dict[str, str] = {}
        for name, template in manifest.http.headers.items():

            def secret(match: Any) -> str:
                key = f"{tenant_id}/{match.group(1)}"
                if key not in self._secrets:
                    raise ToolSecretMissing(
                        f"secret {match.group(1)!r} of tool {manifest.name!r} is not configured"
                    )
                return self._secrets[key]

            headers[name] = SECRET_REF.sub(secret, template)
        return headers

    async def call(
        self,
        tenant_id: str,
        manifest: ToolManifest,
        args: Mapping[str, Any],
        *,
        scope: str,
    ) -> Any:
        """Call ``manifest``'s endpoint with ``args`` (already validated); the decoded JSON body."""
        if manifest.http is None:
            raise ToolCallFailed(f"tool {manifest.name!r} has no HTTP endpoint")
        if urlsplit(manifest.http.url).scheme not in self.settings.allowed_schemes:
            raise ToolRejected(f"scheme of tool {manifest.name!r} is not allowed here")
        url, used = render_url(manifest.http.url, args)
        rest = {k: v for k, v in args.items() if k not in used}
        headers = self._headers(tenant_id, manifest)
        if manifest.side_effect:
            headers["Idempotency-Key"] = idempotency_key(tenant_id, scope, manifest, args)
        method = manifest.http.method
        request_kwargs: dict[str, Any] = {"headers": headers}
        if method in ("GET", "DELETE"):
            request_kwargs["params"] = {
                k: json.dumps(v) if isinstance(v, dict | list) else v
                for k, v in rest.items()
                if v is not None
            }
        else:
            request_kwargs["json"] = rest
        timeout = min(
            manifest.timeout_seconds or self.settings.default_timeout_seconds,
            self.settings.max_timeout_seconds,
        )
        retries = min(manifest.retries, self.settings.max_retries) if manifest.idempotent else 0
        policy = RetryPolicy(
            max_attempts=1 + retries,
            initial_backoff=self.settings.retry_initial_backoff_seconds,
            max_backoff=self.settings.retry_max_backoff_seconds,
            max_retry_after=self.settings.max_timeout_seconds,
        )
        breaker = self.breaker(tenant_id, manifest.name)
        ok_statuses = set(manifest.http.ok_statuses)

        async def attempt(_n: int) -> Any:
            breaker.check()
            try:
                response = await self._client.request(
                    method, url, timeout=httpx.Timeout(timeout), **request_kwargs
                )
            except httpx.HTTPError:
                breaker.record_failure()
                raise
            if response.status_code in RETRYABLE_STATUSES:
                if response.status_code >= 500:
                    breaker.record_failure()
                else:
                    breaker.record_success()
                raise _RetryableStatus(
                    response.status_code,
                    parse_retry_after(response.headers.get("retry-after")),
                    response.text,
                )
            breaker.record_success()
            if len(response.content) > self.settings.max_response_bytes:
                raise ToolCallFailed(f"tool {manifest.name!r} answered more than the byte limit")
            if response.is_success or response.status_code in ok_statuses:
                return _json_body(manifest.name, response)
            raise ToolRejected(
                f"tool {manifest.name!r} answered {response.status_code}: "
                f"{' '.join(response.text.split())[:300]}"
            )

        def retryable(exc: BaseException) -> bool:
            return isinstance(exc, _RetryableStatus | httpx.TransportError)

        def retry_after(exc: BaseException) -> float | None:
            return exc.retry_after if isinstance(exc, _RetryableStatus) else None

        async with self.bulkhead(tenant_id, manifest.name).slot():
            try:
                return await retry_async(
                    attempt, policy=policy, retryable=retryable, retry_after=retry_after
                )
            except CircuitOpenError:
                raise
            except _RetryableStatus as exc:
                raise ToolCallFailed(f"tool {manifest.name!r} failed: {exc}") from None
            except httpx.TimeoutException:
                raise ToolCallFailed(
                    f"tool {manifest.name!r} did not answer within {timeout}s"
                ) from None
            except httpx.HTTPError as exc:
                raise ToolCallFailed(
                    f"tool {manifest.name!r} could not be reached: {type(exc).__name__}"
                ) from None


def _json_body(tool: str, response: httpx.Response) -> Any:
    if not response.content:
        return {}
    try:
        return response.json()
    except ValueError:
        raise ToolCallFailed(f"tool {tool!r} did not answer JSON") from None
