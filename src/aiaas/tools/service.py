"""The per-tenant tool registry and the runner that calls tools for one workflow run.

A runner is bound to the caller's tenant and to the workflow's allow-list when it is made; a tool
name outside the list is refused before anything is looked up, and nothing a workflow (or a model
writing into its state) passes can change the tenant, the host or the tool.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from jsonschema import Draft202012Validator

from aiaas.events.outbox import record_event
from aiaas.kit.db import Database
from aiaas.kit.ids import new_id
from aiaas.tools import events as tool_events
from aiaas.tools.builtins import BUILTIN_TOOLS, standard_http_tools
from aiaas.tools.config import DEMO_STORE_ORIGIN
from aiaas.tools.errors import (
    ToolInputInvalid,
    ToolManifestInvalid,
    ToolNotAllowed,
    ToolNotFound,
    ToolOutputInvalid,
    ToolVersionExists,
)
from aiaas.tools.http import HttpToolAdapter
from aiaas.tools.manifest import ToolManifest, parse_manifest
from aiaas.tools.models import ToolManifestRecord
from aiaas.tools.repository import ToolManifestRepository

log = logging.getLogger(__name__)
KnowledgeSearch = Callable[[str, int], Awaitable[Sequence[Any]]]

_ = tool_events  # registers the event types


class ToolRegistry:
    """Tool manifests of the session's tenant, by name and semver version."""

    def __init__(self, session: Any) -> None:
        self.repo = ToolManifestRepository(session)
        self.session = session

    async def register(self, data: Any, *, actor: str | None = None) -> ToolManifestRecord:
        manifest = parse_manifest(data)
        if manifest.name in BUILTIN_TOOLS:
            raise ToolManifestInvalid(
                [{"path": "name", "message": f"{manifest.name!r} is a built-in tool"}]
            )
        if manifest.compensation and manifest.compensation.tool == manifest.name:
            raise ToolManifestInvalid(
                [{"path": "compensation.tool", "message": "a tool cannot compensate itself"}]
            )
        if await self.repo.version(manifest.name, manifest.version) is not None:
            raise ToolVersionExists(f"{manifest.name} {manifest.version} is already registered")
        record = await self.repo.add(
            ToolManifestRecord(
                name=manifest.name,
                version=manifest.version,
                description=manifest.description,
                manifest=manifest.model_dump(mode="json"),
                is_current=False,
                created_by=actor,
            )
        )
        current = await self.repo.current(manifest.name)
        if (
            current is None
            or ToolManifest.model_validate(current.manifest).semver() < manifest.semver()
        ):
            await self.repo.make_current(record)
        await record_event(
            self.session,
            "tools.manifest.registered",
            tool_events.ToolRegistered(
                name=manifest.name,
                version=manifest.version,
                kind=manifest.kind,
                side_effect=manifest.side_effect,
                idempotent=manifest.idempotent,
            ),
            subject_type="tool",
            subject_id=record.id,
        )
        return record

    async def versions(self, name: str) -> list[ToolManifestRecord]:
        rows = list(await self.repo.versions(name))
        if not rows and name not in BUILTIN_TOOLS:
            raise ToolNotFound(f"no tool {name!r}")
        return sorted(
            rows, key=lambda r: ToolManifest.model_validate(r.manifest).semver(), reverse=True
        )

    async def get(self, name: str, version: str | None = None) -> ToolManifest:
        """The current (or the given) version of a tool, built-ins included."""
        if name in BUILTIN_TOOLS and version in (None, BUILTIN_TOOLS[name].version):
            return BUILTIN_TOOLS[name]
        row = await self.repo.version(name, version) if version else await self.repo.current(name)
        if row is None:
            raise ToolNotFound(f"no tool {name!r}" + (f" version {version}" if version else ""))
        return ToolManifest.model_validate(row.manifest)

    async def current(self) -> list[ToolManifestRecord]:
        return list(await self.repo.all_current())

    async def names(self) -> set[str]:
        return {r.name for r in await self.repo.all_current()} | set(BUILTIN_TOOLS)


async def install_standard_tools(
    db: Database, tenant_id: UUID, base_url: str = DEMO_STORE_ORIGIN
) -> list[str]:
    """Register the order, lead and ticket tools against ``base_url`` (the demo store by default);
    tools the tenant already has are left alone. Returns the names registered."""
    added = []
    async with db.transaction(tenant_id) as session:
        registry = ToolRegistry(session)
        existing = await registry.names()
        for manifest in standard_http_tools(base_url):
            if manifest.name not in existing:
                await registry.register(manifest.model_dump(mode="json"), actor="platform")
                added.append(manifest.name)
    return added


@dataclass
class SagaStep:
    tool: str
    compensation: str
    args: dict[str, Any]


@dataclass
class ToolRunner:
    """Calls tools for one run of one tenant; remembers what to undo (saga) if the run fails."""

    db: Database
    adapter: HttpToolAdapter
    tenant_id: UUID
    allowed: frozenset[str]
    search: KnowledgeSearch | None = None
    scope: str = field(default_factory=lambda: str(new_id()))
    calls: list[dict[str, Any]] = field(default_factory=list)
    saga: list[SagaStep] = field(default_factory=list)
    handoff: dict[str, Any] | None = None
    _manifests: dict[str, ToolManifest] = field(default_factory=dict)

    async def manifest(self, name: str) -> ToolManifest:
        found = self._manifests.get(name)
        if found is None:
            async with self.db.transaction(self.tenant_id) as session:
                found = await ToolRegistry(session).get(name)
            self._manifests[name] = found
        return found

    async def __call__(self, name: str, args: dict[str, Any]) -> Any:
        if name not in self.allowed:
            self.calls.append({"tool": name, "status": "refused"})
            raise ToolNotAllowed(f"tool {name!r} is not in this workflow's allow-list")
        return await self._call(name, args, saga=True)

    async def _call(self, name: str, args: Mapping[str, Any], *, saga: bool) -> Any:
        manifest = await self.manifest(name)
        clean = {k: v for k, v in args.items() if not (v == "" and k not in _required(manifest))}
        _validate(manifest.input_schema, clean, ToolInputInvalid, f"input of {name!r}")
        try:
            result = await self._dispatch(manifest, clean)
        except Exception as exc:
            self.calls.append({"tool": name, "status": "failed", "error": type(exc).__name__})
            raise
        if manifest.output_schema is not None:
            _validate(manifest.output_schema, result, ToolOutputInvalid, f"output of {name!r}")
        self.calls.append({"tool": name, "status": "ok"})
        if saga and manifest.side_effect and manifest.compensation is not None:
            comp_args = {
                arg: _pick(ref, clean, result) for arg, ref in manifest.compensation.args.items()
            }
            self.saga.append(SagaStep(name, manifest.compensation.tool, comp_args))
        return result

    async def _dispatch(self, manifest: ToolManifest, args: dict[str, Any]) -> Any:
        if manifest.kind == "builtin":
            if manifest.name == "kb_search":
                if self.search is None:
                    raise ToolNotFound("no knowledge search is configured")
                hits = await self.search(str(args["query"]), int(args.get("k", 4)))
                return {"passages": [_passage(h) for h in hits]}
            if manifest.name == "handoff_to_human":
                self.handoff = {
                    "status": "requested",
                    "reason": str(args.get("reason", "")),
                    "priority": str(args.get("priority", "normal")),
                }
                return dict(self.handoff)
            raise ToolNotFound(f"no built-in tool {manifest.name!r}")
        return await self.adapter.call(str(self.tenant_id), manifest, args, scope=self.scope)

    async def compensate(self) -> list[dict[str, Any]]:
        """Undo the recorded side effects, newest first; every step is tried, failures reported."""
        outcomes = []
        while self.saga:
            step = self.saga.pop()
            try:
                await self._call(step.compensation, step.args, saga=False)
                outcomes.append({"tool": step.tool, "compensation": step.compensation, "ok": True})
            except Exception as exc:
                log.warning("compensation %s of %s failed: %s", step.compensation, step.tool, exc)
                outcomes.append(
                    {
                        "tool": step.tool,
                        "compensation": step.compensation,
                        "ok": False,
                        "error": str(exc)[:300],
                    }
                )
        return outcomes


def _required(manifest: ToolManifest) -> set[str]:
    return set(manifest.input_schema.get("required") or [])


def _validate(schema: dict[str, Any], value: Any, error: type[Exception], what: str) -> None:
    problems = sorted(Draft202012Validator(schema).iter_errors(value), key=lambda e: list(e.path))
    if problems:
        first = problems[0]
        where = ".".join(str(p) for p in first.path) or "(root)"
        raise error(f"{what} is invalid at {where}: {first.message[:300]}")


def _pick(ref: str, args: Mapping[str, Any], result: Any) -> Any:
    root, *path = ref.split(".")
    value: Any = args if root == "args" else result
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value


def _passage(hit: Any) -> dict[str, Any]:
    get = hit.get if isinstance(hit, Mapping) else (lambda k, d=None: getattr(hit, k, d))
    return {
        "id": get("id"),
        "title": get("title", ""),
        "text": get("text", ""),
        "score": get("score"),
    }
