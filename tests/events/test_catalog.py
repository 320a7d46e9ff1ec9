from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from pydantic import BaseModel, ValidationError

from aiaas.backends.bus import subject_matches
from aiaas.events import catalog, get_event_type, register_event
from aiaas.events.catalog import _registry
from aiaas.events.envelope import (
    EventActor,
    EventEnvelope,
    EventSubject,
    all_events_filter,
    bus_subject,
    dead_letter_subject,
)
from aiaas.events.errors import EventCatalogConflict, InvalidEventPayload, UnknownEventType
from aiaas.kit.ids import new_id

FOUNDATION_TYPES = {
    "tenancy.tenant.created",
    "tenancy.tenant.updated",
    "tenancy.tenant.disabled",
    "tenancy.tenant.enabled",
    "tenancy.user.created",
    "tenancy.user.updated",
    "tenancy.user.deactivated",
    "tenancy.api_key.created",
    "tenancy.api_key.revoked",
    "tenancy.session.started",
    "tenancy.session.revoked",
}


def envelope(**changes: object) -> EventEnvelope:
    fields: dict[str, object] = {
        "id": new_id(),
        "tenant_id": new_id(),
        "type": "tenancy.api_key.revoked",
        "version": 1,
        "occurred_at": datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2))),
        "actor": EventActor(type="user", id="u1", display="Ann"),
        "subject": EventSubject(type="api_key", id="k1"),
        "request_id": "req-1",
        "payload": {"api_key_id": str(new_id()), "prefix": "ak_123"},
    }
    fields.update(changes)
    return EventEnvelope(**fields)


def test_envelope_round_trips_through_bytes_in_utc() -> None:
    original = envelope()
    parsed = EventEnvelope.from_bytes(original.to_bytes())
    assert parsed == original
    assert parsed.occurred_at.utcoffset() == timedelta(0)
    assert parsed.occurred_at.hour == 1
    assert json.loads(original.to_bytes())["type"] == "tenancy.api_key.revoked"


def test_envelope_rejects_naive_times_and_badly_shaped_types() -> None:
    with pytest.raises(ValidationError):
        envelope(occurred_at=datetime(2025, 1, 1))
    for bad in ("tenancy.created", "Tenancy.tenant.created", "a.b.c.d", "tenancy..created"):
        with pytest.raises(ValidationError):
            envelope(type=bad)
    with pytest.raises(ValidationError):
        EventEnvelope.from_bytes(b'{"id": "nope"}')


def test_subjects() -> None:
    assert bus_subject("aiaas", "tenancy.user.created") == "aiaas.tenancy.user.created"
    everything = all_events_filter("aiaas")
    assert subject_matches(everything, "aiaas.tenancy.user.created")
    assert not subject_matches(everything, dead_letter_subject("aiaas", "audit_log"))
    assert not subject_matches(everything, "other.tenancy.user.created")
    assert subject_matches("aiaas.>", "aiaas.dlq.audit_log")
    assert not subject_matches("aiaas.>", "aiaas")
    assert subject_matches("aiaas.tenancy.*.created", "aiaas.tenancy.user.created")
    assert not subject_matches("aiaas.tenancy.*.created", "aiaas.tenancy.user.updated")


def test_foundation_types_are_in_the_one_catalog() -> None:
    names = {spec.type for spec in catalog()}
    assert names >= FOUNDATION_TYPES
    described = get_event_type("tenancy.api_key.created").describe()
    assert described["version"] == 1
    assert "prefix" in described["payload_schema"]["properties"]
    # never a secret in a payload schema
    for spec in catalog():
        properties = spec.payload_model.model_json_schema().get("properties", {})
        assert not {"password", "key", "token", "secret", "key_hash"} & set(properties), spec.type


def test_unknown_type_and_bad_payload_raise() -> None:
    with pytest.raises(UnknownEventType):
        get_event_type("tenancy.nothing.happened")
    spec = get_event_type("tenancy.user.created")
    with pytest.raises(InvalidEventPayload) as info:
        spec.validate({"user_id": "not-a-uuid", "email": "a@b.c", "role": "admin"})
    assert "user_id" in str(info.value)
    with pytest.raises(InvalidEventPayload):
        spec.validate(
            {"user_id": str(new_id()), "email": "a@b.c", "role": "admin", "password": "x"}
        )
    data = spec.validate({"user_id": str(new_id()), "email": "a@b.c", "role": "admin"})
    assert data["name"] == ""


def test_a_payload_built_with_the_catalog_model_gives_the_same_data_as_a_dict() -> None:
    spec = get_event_type("tenancy.user.created")
    user_id = new_id()
    fields = {"user_id": user_id, "email": "a@b.c", "role": "admin"}
    from_model = spec.validate(spec.payload_model(**fields))
    assert from_model == spec.validate({**fields, "user_id": str(user_id)})
    assert from_model["user_id"] == str(user_id)  # JSON-ready

    class Other(BaseModel):  # another model is checked against the catalog's, as a dict is
        user_id: str
        email: str

    with pytest.raises(InvalidEventPayload):
        spec.validate(Other(user_id="not-a-uuid", email="a@b.c"))


def test_registration_is_idempotent_but_conflicts_raise() -> None:
    class Payload(BaseModel):
        x: int

    first = register_event("test.catalog.checked", 1, Payload, "checked")
    try:
        assert register_event("test.catalog.checked", 1, Payload, "checked") == first
        with pytest.raises(EventCatalogConflict):
            register_event("test.catalog.checked", 2, Payload, "checked")
    finally:
        _registry.pop("test.catalog.checked")
    with pytest.raises(EventCatalogConflict):
        register_event("not-a-type", 1, Payload, "bad")
