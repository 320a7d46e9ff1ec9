"""Errors of the orchestrator: validation issues that point at the YAML, and run-time failures."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

from aiaas.kit.errors import AppError, NotFound, ValidationFailed


@dataclass(frozen=True)
class Issue:
    """One problem in a workflow: where (``nodes[3].tool``, line 17) and what."""

    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.path or '(root)'}" + (f" (line {self.line})" if self.line else "")
        return f"{where}: {self.message}"


class WorkflowValidationError(ValidationFailed):
    """A workflow that cannot be loaded or compiled; ``issues`` lists every problem found."""

    code, title = "workflow_invalid", "Workflow is invalid"

    def __init__(self, issues: Sequence[Issue], *, workflow: str | None = None) -> None:
        self.issues = list(issues) or [Issue("", "invalid workflow")]
        self.workflow = workflow
        head = f"workflow {workflow!r} is invalid" if workflow else "workflow is invalid"
        detail = f"{head}: " + "; ".join(str(i) for i in self.issues[:5])
        if len(self.issues) > 5:
            detail += f"; and {len(self.issues) - 5} more"
        super().__init__(detail, extra={"issues": [asdict(i) for i in self.issues]})


class WorkflowNotFound(NotFound):
    code, title = "workflow_not_found", "Workflow not found"


class WorkflowInputError(ValidationFailed):
    """The inputs of a turn do not match the workflow's declared inputs."""

    code, title = "workflow_input_invalid", "Workflow input is invalid"


class NodeFailure(AppError):
    """A node failed at run time (after its retries); carried into ``run.error``."""

    status, code, title = 502, "workflow_node_failed", "Workflow step failed"


class ExpressionFailure(AppError):
    """A condition or assignment could not be evaluated against the state."""

    status, code, title = 422, "workflow_expression_failed", "Workflow expression failed"
