"""Node declarations of the workflow DSL, one strict model per node type."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

NODE_ID = r"^[A-Za-z][A-Za-z0-9_-]{0,63}$"
FIELD_NAME = r"^[a-z_][a-z0-9_]{0,63}$"
END = "end"
"""Edge target that ends the run."""

Template = Annotated[str, Field(max_length=20_000)]
Expression = Annotated[str, Field(min_length=1, max_length=2_000)]
FieldName = Annotated[str, Field(pattern=FIELD_NAME)]
Target = Annotated[str, Field(min_length=1, max_length=64)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RetrySpec(Strict):
    """Retries of a failing node: ``max_attempts`` counts the first try."""

    max_attempts: int = Field(1, ge=1, le=10)
    backoff_seconds: float = Field(0.5, ge=0, le=60)
    max_backoff_seconds: float = Field(10.0, ge=0, le=300)


class NodeBase(Strict):
    """What every node has: an id, an optional timeout, retries and an ``on_error`` edge."""

    id: str = Field(pattern=NODE_ID)
    description: str = Field("", max_length=2_000)
    timeout: float | None = Field(None, gt=0, le=3_600, description="Seconds before the node fails")
    retry: RetrySpec = Field(default_factory=RetrySpec)
    on_error: Target | None = Field(
        None, description="Node (or `end`) to go to when this one fails"
    )

    @field_validator("id")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value.lower() in (END, "start"):
            raise ValueError(f"{value!r} is reserved")
        return value


class LLMNode(NodeBase):
    """Ask a language model. Plain text goes to ``output``; with ``schema`` the parsed object does."""

    type: Literal["llm"]
    prompt: Template = Field(description="User message template, e.g. `{input.message}`")
    system: Template | None = Field(None, description="System instructions template")
    tier: str | None = Field(None, pattern=r"^[a-z][a-z0-9_-]{0,31}$")
    model: str | None = Field(None, min_length=1, max_length=200)
    output: FieldName
    output_schema: dict[str, Any] | None = Field(None, alias="schema")
    context: FieldName | None = Field(None, description="State field holding retrieved passages")
    citations: FieldName | None = Field(None, description="State field receiving the citations")
    history: int = Field(0, ge=0, le=50, description="Earlier conversation messages to include")
    stream: bool = Field(False, description="Stream tokens to the customer while generating")
    max_output_tokens: int | None = Field(None, ge=1, le=100_000)
    temperature: float | None = Field(None, ge=0, le=2)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _tier_or_model(self) -> LLMNode:
        if self.tier and self.model:
            raise ValueError("give either tier or model, not both")
        return self


class RetrieveNode(NodeBase):
    """Search the tenant's knowledge base; passages go to ``output`` as a list of objects."""

    type: Literal["retrieve"]
    query: Template = "{input.message}"
    k: int = Field(4, ge=1, le=50)
    output: FieldName
    min_score: float | None = Field(None, ge=0, description="Drop passages scoring below this")
    confidence: FieldName | None = Field(
        None, description="Number field receiving how well the best passage covers the query (0..1)"
    )


class ToolNode(NodeBase):
    """Call a registered tool with arguments computed from the state (expressions)."""

    type: Literal["tool"]
    tool: str = Field(min_length=1, max_length=100)
    args: dict[str, Expression] = Field(default_factory=dict)
    output: FieldName | None = None


class ClassSpec(Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    description: str = Field("", max_length=2_000)


class ClassifyNode(NodeBase):
    """Label the message with one of ``classes``; the label goes to ``output``."""

    type: Literal["classify"]
    input: Template = "{input.message}"
    classes: list[ClassSpec] = Field(min_length=2, max_length=50)
    default: str | None = None
    output: FieldName
    tier: str | None = Field(None, pattern=r"^[a-z][a-z0-9_-]{0,31}$")
    model: str | None = Field(None, min_length=1, max_length=200)


class Case(Strict):
    when: Expression
    to: Target


class BranchNode(NodeBase):
    """Go to the first case whose condition holds, else to ``default``."""

    type: Literal["branch"]
    cases: list[Case] = Field(min_length=1, max_length=100)
    default: Target | None = None


class SetNode(NodeBase):
    """Assign state fields from expressions, in order (later ones see earlier results)."""

    type: Literal["set"]
    assign: dict[FieldName, Expression] = Field(min_length=1, max_length=100)


class RespondNode(NodeBase):
    """Send a message to the customer."""

    type: Literal["respond"]
    message: Template = Field(min_length=1)


class HandoffNode(NodeBase):
    """A human agent takes over; the run waits and resumes with the agent's answer or a hand-back."""

    type: Literal["handoff"]
    reason: Template = "The customer needs a human agent."
    message: Template | None = Field(None, description="Told to the customer while they wait")
    priority: Literal["low", "normal", "high", "urgent"] = "normal"
    output: FieldName | None = Field(None, description="String field receiving the agent's answer")


class SubworkflowNode(NodeBase):
    """Run another workflow of the tenant inside this one, sharing its state."""

    type: Literal["subworkflow"]
    workflow: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")


NodeSpec = Annotated[
    LLMNode
    | RetrieveNode
    | ToolNode
    | ClassifyNode
    | BranchNode
    | SetNode
    | RespondNode
    | HandoffNode
    | SubworkflowNode,
    Field(discriminator="type"),
]

NODE_TYPES = (
    "llm", "retrieve", "tool", "classify", "branch", "set", "respond", "handoff", "subworkflow",
)  # fmt: skip
