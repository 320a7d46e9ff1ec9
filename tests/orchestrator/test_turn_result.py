"""TurnResult.to_dict: the same content as a deep ``asdict``, plus the usage total."""

from __future__ import annotations

from dataclasses import asdict

from aiaas.orchestrator.engine import TurnResult, TurnUsage


def test_to_dict_matches_asdict_with_the_total() -> None:
    result = TurnResult(
        status="handoff",
        replies=[{"text": "hello", "citations": [{"id": "c1"}]}],
        usage=TurnUsage(input_tokens=12, output_tokens=30, cost_micros=7, llm_calls=2),
        steps=5,
        path=["classify", "respond"],
        state={"message": "hi", "order": {"id": 42}},
        stop_reason=None,
        error={"node": "tool", "message": "boom"},
        handoff={"reason": "complaint"},
        thread_id="t:c:w",
    )
    expected = asdict(result)
    expected["usage"]["total_tokens"] = 42
    assert result.to_dict() == expected


def test_to_dict_does_not_share_the_top_level_containers() -> None:
    result = TurnResult("completed", [{"text": "a"}], TurnUsage(), 1, ["n"], {"k": 1})
    data = result.to_dict()
    data["replies"].append({"text": "b"})
    data["path"].append("m")
    data["state"]["k"] = 2
    assert result.replies == [{"text": "a"}] and result.path == ["n"] and result.state == {"k": 1}
