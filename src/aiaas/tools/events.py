"""Event types of the tools domain."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from aiaas.events.catalog import event


@event("tools.manifest.registered", 1, "A tool manifest version was registered")
class ToolRegistered(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    version: str
    kind: str
    side_effect: bool
    idempotent: bool
