"""The workflow DSL: strict models, templates, expressions, YAML loading and graph checks."""

from aiaas.orchestrator.spec.models import WorkflowSpec, workflow_json_schema

__all__ = ["WorkflowSpec", "workflow_json_schema"]
