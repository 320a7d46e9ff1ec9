"""Errors of the tools domain."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiaas.kit.errors import AppError, Conflict, Forbidden, NotFound, ValidationFailed


class ToolManifestInvalid(ValidationFailed):
    """A manifest that cannot be registered; ``issues`` point at the offending fields."""

    code, title = "tool_manifest_invalid", "Tool manifest is invalid"

    def __init__(self, issues: Sequence[dict[str, Any]]) -> None:
        self.issues = list(issues) or [{"path": "", "message": "invalid manifest"}]
        detail = "; ".join(f"{i['path'] or '(root)'}: {i['message']}" for i in self.issues[:5])
        super().__init__(f"tool manifest is invalid: {detail}", extra={"issues": self.issues})


class ToolNotFound(NotFound):
    code, title = "tool_not_found", "Tool not found"


class ToolVersionExists(Conflict):
    code, title = "tool_version_exists", "Tool version already registered"


class ToolNotAllowed(Forbidden):
    """The workflow does not list this tool; nothing was called."""

    code, title = "tool_not_allowed", "Tool not allowed"


class ToolInputInvalid(ValidationFailed):
    code, title = "tool_input_invalid", "Tool input is invalid"


class ToolSecretMissing(ValidationFailed):
    code, title = "tool_secret_missing", "Tool secret is not configured"


class ToolCallFailed(AppError):
    """The tool's endpoint failed (after the retries its manifest allows)."""

    status, code, title = 502, "tool_call_failed", "Tool call failed"


class ToolRejected(AppError):
    """The tool's endpoint refused the call (4xx); retrying would not help."""

    status, code, title = 422, "tool_rejected", "Tool rejected the call"


class ToolOutputInvalid(AppError):
    status, code, title = 502, "tool_output_invalid", "Tool returned invalid output"
