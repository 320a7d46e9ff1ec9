"""Tools the platform provides: ``kb_search`` and ``handoff_to_human`` run inside the platform;
``lookup_order``, ``create_lead`` and ``create_ticket`` (with their compensations) are HTTP manifests
a tenant installs against its own API (the demo tenant against the demo store)."""

from __future__ import annotations

from typing import Any

from aiaas.tools.manifest import ToolManifest, parse_manifest

_BUILTIN_DATA: list[dict[str, Any]] = [
    {
        "name": "kb_search",
        "version": "1.0.0",
        "kind": "builtin",
        "description": "Search the tenant's knowledge base; passages best first.",
        "idempotent": True,
        "input_schema": {
            "type": "object",
            "properties": {
                "query": {"type": "string", "minLength": 1, "maxLength": 2000},
                "k": {"type": "integer", "minimum": 1, "maximum": 20},
            },
            "required": ["query"],
            "additionalProperties": False,
        },
    },
    {
        "name": "handoff_to_human",
        "version": "1.0.0",
        "kind": "builtin",
        "description": "Flag the conversation for a human agent (the run records the request).",
        "side_effect": True,
        "input_schema": {
            "type": "object",
            "properties": {
                "reason": {"type": "string", "maxLength": 2000},
                "priority": {"enum": ["low", "normal", "high", "urgent"]},
            },
            "required": ["reason"],
            "additionalProperties": False,
        },
    },
]

BUILTIN_TOOLS: dict[str, ToolManifest] = {
    data["name"]: parse_manifest(data, allow_builtin=True) for data in _BUILTIN_DATA
}


def standard_http_tools(base_url: str) -> list[ToolManifest]:
    """The order, lead and ticket tools, pointed at a tenant API at ``base_url``."""
    base = base_url.rstrip("/")
    string = {"type": "string", "minLength": 1, "maxLength": 200}
    data: list[dict[str, Any]] = [
        {
            "name": "lookup_order",
            "version": "1.0.0",
            "description": "Look an order up by its number.",
            "input_schema": {
                "type": "object",
                "properties": {"order_id": {**string, "pattern": "^[A-Za-z0-9-]{1,40}$"}},
                "required": ["order_id"],
                "additionalProperties": False,
            },
            "http": {"method": "GET", "url": f"{base}/orders/{{order_id}}", "ok_statuses": [404]},
            "timeout_seconds": 5,
            "retries": 2,
            "idempotent": True,
        },
        {
            "name": "delete_lead",
            "version": "1.0.0",
            "description": "Remove a lead (compensates create_lead).",
            "input_schema": {
                "type": "object",
                "properties": {"lead_id": string},
                "required": ["lead_id"],
                "additionalProperties": False,
            },
            "http": {"method": "DELETE", "url": f"{base}/leads/{{lead_id}}", "ok_statuses": [404]},
            "retries": 2,
            "idempotent": True,
            "side_effect": True,
        },
        {
            "name": "create_lead",
            "version": "1.0.0",
            "description": "Register a sales lead.",
            "input_schema": {
                "type": "object",
                "properties": {
                    "name": string,
                    "email": {"type": "string", "maxLength": 320},
                    "company": {"type": "string", "maxLength": 200},
                    "message": {"type": "string", "maxLength": 20000},
                    "source": {"type": "string", "maxLength": 40},
                },
                "required": ["name", "email"],
                "additionalProperties": False,
            },
            "output_schema": {"type": "object", "required": ["id"]},
            "http": {"method": "POST", "url": f"{base}/leads"},
            "retries": 2,
            "idempotent": True,
            "side_effect": True,
            "compensation": {"tool": "delete_lead", "args": {"lead_id": "result.id"}},
        },
        {
            "name": "cancel_ticket",
            "version": "1.0.0",
            "description": "Cancel a support ticket (compensates create_ticket).",
            "input_schema": {
                "type": "object",
                "properties": {"ticket_id": string},
                "required": ["ticket_id"],
                "additionalProperties": False,
            },
            "http": {
                "method": "DELETE",
                "url": f"{base}/tickets/{{ticket_id}}",
                "ok_statuses": [404],
            },
            "retries": 2,
            "idempotent": True,
            "side_effect": True,
        },
        {
            "name": "create_ticket",
            "version": "1.0.0",
            "description": "Open a support ticket.",
            "input_schema": {
                "type": "object",
                "properties": {
                    "subject": {"type": "string", "minLength": 1, "maxLength": 500},
                    "description": {"type": "string", "maxLength": 20000},
                    "priority": {"enum": ["low", "normal", "high", "urgent"]},
                    "order_id": {"type": "string", "maxLength": 40},
                },
                "required": ["subject"],
                "additionalProperties": False,
            },
            "output_schema": {"type": "object", "required": ["id"]},
            "http": {"method": "POST", "url": f"{base}/tickets"},
            "retries": 2,
            "idempotent": True,
            "side_effect": True,
            "compensation": {"tool": "cancel_ticket", "args": {"ticket_id": "result.id"}},
        },
    ]
    return [parse_manifest(item) for item in data]
