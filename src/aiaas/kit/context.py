"""Request-scoped context carried in contextvars: request id, trace id, tenant and actor for logs and events."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class Actor:
    """Who did something: ``user``, ``api_key``, ``platform_admin``, ``widget`` or ``system``."""

    type: str
    id: str | None = None
    display: str | None = None


SYSTEM_ACTOR = Actor(type="system", id=None, display="system")


@dataclass(frozen=True)
class RequestContext:
    request_id: str | None = None
    trace_id: str | None = None
    tenant_id: str | None = None
    tenant_slug: str | None = None
    actor: Actor = field(default=SYSTEM_ACTOR)
    client_ip: str | None = None


_current: ContextVar[RequestContext] = ContextVar("aiaas_request_context", default=RequestContext())  # noqa: B039


def current_context() -> RequestContext:
    """The context of the request (or job) being handled; empty outside one."""
    return _current.get()


def bind_context(**changes: object) -> RequestContext:
    """Replace fields of the current context (for the rest of this task) and return it."""
    ctx = replace(_current.get(), **changes)  # type: ignore[arg-type]
    _current.set(ctx)
    return ctx


def bind_caller(tenant_id: str | None, tenant_slug: str | None, actor: Actor) -> RequestContext:
    """Set the caller's tenant and actor in the current context (once per authenticated request)."""
    ctx = _current.get()
    bound = RequestContext(
        request_id=ctx.request_id,
        trace_id=ctx.trace_id,
        tenant_id=tenant_id,
        tenant_slug=tenant_slug,
        actor=actor,
        client_ip=ctx.client_ip,
    )
    _current.set(bound)
    return bound


def reset_context(ctx: RequestContext | None = None) -> None:
    _current.set(ctx or RequestContext())
