"""Manifests: strict fields, semver, schemas, URL templates that cannot move the host; every
problem located."""

from __future__ import annotations

from typing import Any

import pytest

from aiaas.tools.builtins import BUILTIN_TOOLS, standard_http_tools
from aiaas.tools.errors import ToolManifestInvalid
from aiaas.tools.manifest import parse_manifest

GOOD: dict[str, Any] = {
    "name": "lookup_order",
    "version": "1.2.3",
    "input_schema": {"type": "object", "properties": {"order_id": {"type": "string"}},
                     "required": ["order_id"]},
    "http": {"method": "GET", "url": "https://api.example.com/orders/{order_id}"},
}  # fmt: skip


def problems(**changes: Any) -> dict[str, str]:
    with pytest.raises(ToolManifestInvalid) as caught:
        parse_manifest({**GOOD, **changes})
    return {i["path"]: i["message"] for i in caught.value.issues}


def test_a_good_manifest_and_the_shipped_ones_parse() -> None:
    assert parse_manifest(GOOD).semver() == (1, 2, 3, 1, "")
    assert {m.name for m in standard_http_tools("http://x.example")} >= {
        "lookup_order",
        "create_lead",
        "create_ticket",
    }
    assert set(BUILTIN_TOOLS) == {"kb_search", "handoff_to_human"}


def test_field_errors_are_located() -> None:
    found = problems(version="1.0", surprise=True, timeout_seconds=-1)
    assert {"version", "surprise", "timeout_seconds"} <= set(found)


def test_placeholders_may_only_fill_the_path() -> None:
    assert "http.url" in problems(http={"url": "https://{host}/orders"})
    assert "http.url" in problems(http={"url": "https://api.example.com/o?id={order_id}"})
    assert "http.url" in problems(http={"url": "https://user:pw@api.example.com/orders/{order_id}"})
    assert "http.url" in problems(http={"url": "https://api.example.com/orders/{unknown}"})
    assert "http.url" in problems(http={"url": "ftp://api.example.com/orders"})


def test_headers_reference_secrets_only_and_schemas_are_checked() -> None:
    found = problems(http={**GOOD["http"], "headers": {"X-Order": "{order_id}", "Host": "x"}})
    assert {"http.headers.X-Order", "http.headers.Host"} <= set(found)
    assert "input_schema.type" in problems(input_schema={"type": "not-a-type"})
    assert "compensation" in problems(compensation={"tool": "undo", "args": {}})


def test_builtins_cannot_be_registered() -> None:
    assert "kind" in problems(kind="builtin")
