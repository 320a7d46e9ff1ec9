"""The credential cache under concurrency: an expired entry is loaded once for every request
waiting on it, a failed load is shared and not kept, and an entry dropped while loading stays
dropped."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import event

from aiaas.kit.errors import Unauthorized
from aiaas.tenancy.credentials import _TtlMap
from tests.conftest import Stack
from tests.factories import make_tenant


def _count_selects(env: Stack) -> list[str]:
    """The credential reads (tenants, API keys) the database receives from now on."""
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "FROM tenants" in statement or "FROM api_keys" in statement:
            statements.append(statement)

    event.listen(env.platform.db.engine.sync_engine, "before_cursor_execute", seen)
    return statements


async def test_concurrent_requests_after_expiry_load_the_key_and_tenant_once(env: Stack) -> None:
    tenant = await make_tenant(env)
    authenticator = env.platform.authenticator
    env.platform.credentials.clear()  # as when both entries expire under load
    selects = _count_selects(env)
    principals = await asyncio.gather(
        *(authenticator.from_api_key(tenant.api_key) for _ in range(50))
    )
    assert {p.tenant_slug for p in principals} == {tenant.slug}
    assert len([s for s in selects if "FROM tenants" in s]) == 1
    assert len([s for s in selects if "FROM api_keys" in s]) == 1
    # and the next requests are served from the cache
    await authenticator.from_api_key(tenant.api_key)
    assert len(selects) == 2


async def test_a_refused_key_is_refused_for_every_waiter_and_not_cached(env: Stack) -> None:
    tenant = await make_tenant(env)
    forged = tenant.api_key[:-4] + ("aaaa" if not tenant.api_key.endswith("aaaa") else "bbbb")
    authenticator = env.platform.authenticator
    results = await asyncio.gather(
        *(authenticator.from_api_key(forged) for _ in range(10)), return_exceptions=True
    )
    assert all(isinstance(r, Unauthorized) for r in results)
    selects = _count_selects(env)
    with pytest.raises(Unauthorized):
        await authenticator.from_api_key(forged)
    assert len([s for s in selects if "FROM api_keys" in s]) == 1  # checked again, not remembered


async def test_an_entry_dropped_while_loading_is_not_stored() -> None:
    cache = _TtlMap(ttl=60)
    release = asyncio.Event()
    loads = 0

    async def load() -> str:
        nonlocal loads
        loads += 1
        await release.wait()
        return "read before the revocation"

    waiters = [asyncio.create_task(cache.get_or_load("key", load)) for _ in range(3)]
    await asyncio.sleep(0)
    cache.pop("key")  # revoked while the database was being read
    release.set()
    assert await asyncio.gather(*waiters) == ["read before the revocation"] * 3
    assert loads == 1
    assert cache.get("key") is None


async def test_a_caller_going_away_does_not_cancel_the_shared_load() -> None:
    cache = _TtlMap(ttl=60)
    release = asyncio.Event()

    async def load() -> str:
        await release.wait()
        return "value"

    first = asyncio.create_task(cache.get_or_load("key", load))
    second = asyncio.create_task(cache.get_or_load("key", load))
    await asyncio.sleep(0)
    first.cancel()
    release.set()
    assert await second == "value"
    assert cache.get("key") == "value"
