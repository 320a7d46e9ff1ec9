"""Object factories for the cross-tenant matrix, one module per domain.

Each module defines ``FACTORIES: dict[str, Factory]`` mapping a path parameter name (``user_id``) to a
coroutine that creates such an object for the given tenant and returns its id. A route with a path
parameter no module knows fails ``tests/tenancy/test_isolation.py``.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.conftest import Stack
    from tests.factories import TenantHandle

Factory = Callable[["Stack", "TenantHandle"], Awaitable[str]]


def all_factories() -> dict[str, Factory]:
    merged: dict[str, Factory] = {}
    for module in pkgutil.iter_modules(__path__):
        factories = importlib.import_module(f"{__name__}.{module.name}").FACTORIES
        clash = set(merged) & set(factories)
        assert not clash, f"path parameters defined twice: {clash}"
        merged.update(factories)
    return merged
