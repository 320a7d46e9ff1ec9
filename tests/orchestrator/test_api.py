"""The orchestrator API: workflows with located validation and versions, persisted runs, handoff
resume and cancel, on both stacks."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import Stack
from tests.factories import make_tenant

API = "/api/v1/orchestrator"
GREETING = """
version: 1
name: greeting
description: Say hello
nodes:
  - {id: hello, type: respond, message: "Hello, revision one"}
"""
GREETING_2 = GREETING.replace("revision one", "revision two")
BROKEN = """
version: 1
name: broken
state:
  answer: {type: string}
nodes:
  - id: ask
    type: llm
    prompt: "{state.nowhere}"
    output: answer
  - id: lookup
    type: tool
    tool: no_such_tool
  - {id: island, type: respond, message: unreachable}
edges:
  - {from: ask, to: lookup}
  - {from: lookup, to: missing_node}
"""


def sse_events(text: str) -> list[dict[str, Any]]:
    return [
        json.loads(line.removeprefix("data: "))
        for line in text.splitlines()
        if line.startswith("data: ")
    ]


async def test_invalid_workflow_gives_every_issue_with_its_yaml_path(env: Stack) -> None:
    tenant = await make_tenant(env)
    for path in ("/workflows", "/workflows/validate"):
        response = await env.client.post(API + path, headers=tenant.auth, json={"source": BROKEN})
        assert response.status_code == 422, response.text
        body = response.json()
        assert body["code"] == "workflow_invalid"
        where = {issue["path"] for issue in body["issues"]}
        assert {"nodes[0].prompt", "nodes[1].tool", "edges[1].to"} <= where, where
        assert all(issue["line"] for issue in body["issues"] if issue["path"].startswith("nodes"))
    garbage = await env.client.post(
        API + "/workflows", headers=tenant.auth, json={"source": "nodes: [unclosed"}
    )
    assert garbage.status_code == 422 and garbage.json()["code"] == "workflow_invalid"
    listed = await env.client.get(API + "/workflows", headers=tenant.auth)
    assert "broken" not in {w["name"] for w in listed.json()["items"]}


async def test_upload_versions_activate_roll_back_and_delete(env: Stack) -> None:
    tenant = await make_tenant(env)
    first = await env.client.post(
        API + "/workflows", headers=tenant.auth, json={"source": GREETING}
    )
    assert first.status_code == 201 and first.json()["revision"] == 1 and first.json()["active"]
    second = await env.client.post(
        API + "/workflows", headers=tenant.auth, json={"source": GREETING_2}
    )
    assert second.json()["revision"] == 2

    async def say() -> str:
        run = await env.client.post(
            API + "/runs", headers=tenant.auth, json={"message": "hi", "workflow": "greeting"}
        )
        assert run.status_code == 200, run.text
        return str(run.json()["replies"][0]["content"])

    assert await say() == "Hello, revision two"
    rolled = await env.client.post(API + "/workflows/greeting/activate", headers=tenant.auth)
    assert rolled.status_code == 200 and rolled.json()["active_revision"] == 1
    assert await say() == "Hello, revision one"
    again = await env.client.post(
        API + "/workflows/greeting/activate", headers=tenant.auth, json={"revision": 2}
    )
    assert again.json()["active_revision"] == 2 and await say() == "Hello, revision two"
    missing = await env.client.post(
        API + "/workflows/greeting/activate", headers=tenant.auth, json={"revision": 9}
    )
    assert missing.status_code == 404
    versions = (
        await env.client.get(API + "/workflows/greeting/versions", headers=tenant.auth)
    ).json()
    assert [(v["revision"], v["active"]) for v in versions["items"]] == [(2, True), (1, False)]
    detail = (await env.client.get(API + "/workflows/greeting", headers=tenant.auth)).json()
    assert detail["origin"] == "tenant" and "revision two" in detail["source"]
    assert (
        await env.client.delete(API + "/workflows/greeting", headers=tenant.auth)
    ).status_code == 204
    gone = await env.client.get(API + "/workflows/greeting", headers=tenant.auth)
    assert gone.status_code == 404
    # events for each change
    types = await _event_types(env, tenant.id)
    assert types.count("orchestrator.workflow.uploaded") == 2
    assert types.count("orchestrator.workflow.activated") == 4
    assert "orchestrator.workflow.deleted" in types


async def test_a_tenant_overrides_a_shipped_workflow(env: Stack) -> None:
    tenant, other = await make_tenant(env), await make_tenant(env)
    listed = (await env.client.get(API + "/workflows", headers=tenant.auth)).json()["items"]
    assert {w["name"] for w in listed} >= {"customer_support", "faq", "order_status"}
    assert all(w["origin"] == "shipped" for w in listed)
    shipped = (await env.client.get(API + "/workflows/faq", headers=tenant.auth)).json()
    assert shipped["origin"] == "shipped" and "retrieve" in shipped["source"]
    mine = 'version: 1\nname: faq\nnodes:\n  - {id: a, type: respond, message: "Our own FAQ"}\n'
    made = await env.client.post(API + "/workflows", headers=tenant.auth, json={"source": mine})
    assert made.status_code == 201, made.text
    run = await env.client.post(API + "/runs", headers=tenant.auth,
                                json={"message": "How do returns work?", "workflow": "customer_support"})  # fmt: skip
    assert run.json()["replies"][0]["content"] == "Our own FAQ"
    theirs = await env.client.get(API + "/workflows/faq", headers=other.auth)
    assert theirs.json()["origin"] == "shipped"


async def test_runs_are_persisted_with_node_runs_and_events(env: Stack) -> None:
    tenant = await make_tenant(env)
    await env.client.post(API + "/workflows", headers=tenant.auth, json={"source": GREETING})
    started = await env.client.post(API + "/runs", headers=tenant.auth,
                                    json={"message": "hi", "workflow": "greeting",
                                          "conversation_id": "conv-1"})  # fmt: skip
    result = started.json()
    assert result["status"] == "completed" and result["run_id"]
    run = (await env.client.get(f"{API}/runs/{result['run_id']}", headers=tenant.auth)).json()
    assert run["status"] == "completed" and run["conversation_id"] == "conv-1"
    assert run["finished_at"] and run["duration_ms"] is not None and run["steps"] == 1
    assert [(n["node"], n["status"], n["type"]) for n in run["nodes"]] == [
        ("hello", "completed", "respond")
    ]
    listed = await env.client.get(API + "/runs?conversation_id=conv-1", headers=tenant.auth)
    assert [r["id"] for r in listed.json()["items"]] == [result["run_id"]]
    events = await env.client.get(f"{API}/runs/{result['run_id']}/events", headers=tenant.auth)
    assert events.status_code == 200 and events.headers["content-type"].startswith(
        "text/event-stream"
    )
    kinds = [e["type"] for e in sse_events(events.text)]
    assert kinds[0] == "run.started" and kinds[-1] == "run.finished" and "node.started" in kinds
    types = await _event_types(env, tenant.id)
    assert "orchestrator.run.started" in types and "orchestrator.run.completed" in types


async def test_streamed_run_over_sse(env: Stack) -> None:
    tenant = await make_tenant(env)
    await env.client.post(API + "/workflows", headers=tenant.auth, json={"source": GREETING})
    response = await env.client.post(API + "/runs", headers=tenant.auth,
                                     json={"message": "hi", "workflow": "greeting", "stream": True})  # fmt: skip
    events = sse_events(response.text)
    assert events[0]["type"] == "run.started" and events[-1]["type"] == "run.finished"
    assert any(e["type"] == "message" and e["content"] == "Hello, revision one" for e in events)


async def test_handoff_is_resumed_through_the_api(env: Stack) -> None:
    tenant = await make_tenant(env)
    body = {"message": "I want to talk to a human agent please", "conversation_id": "c-h"}
    first = (await env.client.post(API + "/runs", headers=tenant.auth, json=body)).json()
    assert first["status"] == "waiting_for_agent" and first["handoff"]["node"] == "human"
    blocked = await env.client.post(API + "/runs", headers=tenant.auth, json=body)
    assert blocked.status_code == 409 and blocked.json()["code"] == "handoff_pending"
    pending = await env.platform.orchestrator.pending_handoff(tenant.id, "c-h")
    assert pending and pending["run_id"] == first["run_id"]
    no_body = await env.client.post(f"{API}/runs/{first['run_id']}/resume", headers=tenant.auth)
    assert no_body.status_code == 422
    resumed = await env.client.post(f"{API}/runs/{first['run_id']}/resume", headers=tenant.auth,
                                    json={"action": "answer", "message": "Hi, Dana here.", "agent": "dana"})  # fmt: skip
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["status"] == "completed"
    assert resumed.json()["replies"] == [{"role": "agent", "content": "Hi, Dana here.", "node": "human", "agent": "dana"}]  # fmt: skip
    old = (await env.client.get(f"{API}/runs/{first['run_id']}", headers=tenant.auth)).json()
    assert old["status"] == "resolved"
    again = await env.client.post(f"{API}/runs/{first['run_id']}/resume", headers=tenant.auth,
                                  json={"action": "hand_back"})  # fmt: skip
    assert again.status_code == 409
    assert await env.platform.orchestrator.pending_handoff(tenant.id, "c-h") is None
    types = await _event_types(env, tenant.id)
    assert "orchestrator.run.interrupted" in types


async def test_cancel_a_run_waiting_for_an_agent(env: Stack) -> None:
    tenant = await make_tenant(env)
    body = {"message": "Let me speak to a real person", "conversation_id": "c-x"}
    first = (await env.client.post(API + "/runs", headers=tenant.auth, json=body)).json()
    cancelled = await env.client.post(f"{API}/runs/{first['run_id']}/cancel", headers=tenant.auth)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert await env.platform.orchestrator.pending_handoff(tenant.id, "c-x") is None
    after = await env.client.post(API + "/runs", headers=tenant.auth, json=body)
    assert after.status_code == 200 and after.json()["status"] == "waiting_for_agent"


async def test_permissions(env: Stack) -> None:
    tenant = await make_tenant(env, scopes=["workflows:read"])
    read_only = tenant.key_auth
    assert (await env.client.get(API + "/workflows", headers=read_only)).status_code == 200
    denied = await env.client.post(API + "/workflows", headers=read_only, json={"source": GREETING})
    assert denied.status_code == 403
    denied_run = await env.client.post(API + "/runs", headers=read_only, json={"message": "hi"})
    assert denied_run.status_code == 403


async def _event_types(env: Stack, tenant_id: str) -> list[str]:
    from uuid import UUID

    from sqlalchemy import select

    from aiaas.events.models import OutboxEvent

    async with env.platform.db.transaction(UUID(tenant_id)) as session:
        rows = (await session.execute(select(OutboxEvent.type))).scalars().all()
    return list(rows)
