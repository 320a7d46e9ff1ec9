"""A principal carries its request-context fields, made once, and binds them to the request."""

from __future__ import annotations

import dataclasses
from uuid import uuid4

from aiaas.kit.context import Actor, RequestContext, bind_caller, current_context, reset_context
from aiaas.tenancy.permissions import Principal


def _key_principal() -> Principal:
    return Principal(
        kind="api_key",
        id=uuid4(),
        display="key ak_1 (server)",
        permissions=frozenset({"chat:write"}),
        tenant_id=uuid4(),
        tenant_slug="acme",
        plan="pro",
    )


def test_context_fields_are_the_tenant_id_and_actor_as_text() -> None:
    principal = _key_principal()
    assert principal.context_fields == (
        str(principal.tenant_id),
        Actor(type="api_key", id=str(principal.id), display="key ak_1 (server)"),
    )
    admin = Principal(kind="platform_admin", id=uuid4(), display="root", permissions=frozenset())
    assert admin.context_fields[0] is None


def test_context_fields_follow_a_changed_copy_and_stay_out_of_equality() -> None:
    principal = _key_principal()
    moved = dataclasses.replace(principal, tenant_id=uuid4(), plan="enterprise")
    assert moved.context_fields[0] == str(moved.tenant_id)
    assert dataclasses.replace(principal, plan="pro") == principal
    assert "context_fields" not in repr(principal)


def test_bind_caller_keeps_the_request_fields() -> None:
    reset_context(RequestContext(request_id="r-1", trace_id="t-1", client_ip="10.0.0.1"))
    try:
        tenant_id, actor = _key_principal().context_fields
        bound = bind_caller(tenant_id, "acme", actor)
        assert bound == current_context()
        assert bound == RequestContext(
            request_id="r-1",
            trace_id="t-1",
            tenant_id=tenant_id,
            tenant_slug="acme",
            actor=actor,
            client_ip="10.0.0.1",
        )
    finally:
        reset_context()


def test_bind_caller_keeps_every_other_field_of_the_context() -> None:
    # bind_caller builds the context field by field (it runs on every request): a field added to
    # RequestContext must be carried over there too.
    caller_fields = {"tenant_id", "tenant_slug", "actor"}
    others = {
        f.name: f"value-{f.name}"
        for f in dataclasses.fields(RequestContext)
        if f.name not in caller_fields
    }
    reset_context(RequestContext(**others))  # type: ignore[arg-type]
    try:
        bound = bind_caller("t", "acme", Actor(type="user", id="u"))
        assert {name: getattr(bound, name) for name in others} == others
    finally:
        reset_context()
