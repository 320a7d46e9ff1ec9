"""Orchestrator objects for the cross-tenant matrix: an uploaded workflow and a finished run."""

from __future__ import annotations

from tests.conftest import Stack
from tests.factories import TenantHandle
from tests.isolation import Factory

ISOLATION_WORKFLOW = """
version: 1
name: isolation_greeting
nodes:
  - {id: hello, type: respond, message: "Hello from tenant A"}
"""


async def _workflow(stack: Stack, owner: TenantHandle) -> str:
    made = await stack.client.post(
        "/api/v1/orchestrator/workflows", headers=owner.auth, json={"source": ISOLATION_WORKFLOW}
    )
    assert made.status_code == 201, made.text
    return "isolation_greeting"


async def _run(stack: Stack, owner: TenantHandle) -> str:
    await _workflow(stack, owner)
    made = await stack.client.post(
        "/api/v1/orchestrator/runs",
        headers=owner.auth,
        json={"message": "hi", "workflow": "isolation_greeting"},
    )
    assert made.status_code == 200, made.text
    return str(made.json()["run_id"])


FACTORIES: dict[str, Factory] = {"workflow_name": _workflow, "run_id": _run}
