"""Policy versions: a new version starts as a canary on a share of traffic, is judged on its reward
against the incumbent's over the same period, and is promoted or rolled back automatically."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from aiaas.events import record_event
from aiaas.kit.clock import utcnow
from aiaas.kit.errors import Conflict
from aiaas.router.config import RouterSettings
from aiaas.router.events import PolicyCreated, PolicyPromoted, PolicyRolledBack
from aiaas.router.models import RouterPolicy
from aiaas.router.policy import ArmStats, PolicyParams, PolicyStatus, Verdict, judge_canary
from aiaas.router.repository import PolicyRepository


def incumbent_since_canary(incumbent: RouterPolicy, canary: RouterPolicy) -> ArmStats:
    """The incumbent's reward over the canary's lifetime (its totals minus those at the start)."""
    return ArmStats(
        incumbent.feedback_count - canary.baseline_feedback,
        incumbent.reward_sum - canary.baseline_reward_sum,
    )


async def apply_canary_verdict(
    session: AsyncSession, live: Sequence[RouterPolicy], config: RouterSettings
) -> list[str]:
    """Judge the canary among ``live`` (locked rows) and act on the verdict; the event types sent."""
    incumbent = next((p for p in live if p.status == PolicyStatus.ACTIVE), None)
    canary = next((p for p in live if p.status == PolicyStatus.CANARY), None)
    if incumbent is None or canary is None:
        return []
    baseline = incumbent_since_canary(incumbent, canary)
    mine = ArmStats(canary.feedback_count, canary.reward_sum)
    verdict = judge_canary(
        baseline, mine, min_feedback=config.canary_min_feedback, margin=config.canary_margin
    )
    now = utcnow()
    if verdict is Verdict.ROLL_BACK:
        reason = (
            f"mean reward {mine.mean:.3f} over {mine.feedback} outcomes trails the incumbent's"
            f" {baseline.mean:.3f} by more than {config.canary_margin}"
        )
        canary.status = PolicyStatus.ROLLED_BACK.value
        canary.ended_at, canary.end_reason = now, reason[:200]
        await session.flush()
        await record_event(
            session,
            "router.policy.rolled_back",
            PolicyRolledBack(
                policy_id=canary.id,
                version=canary.version,
                reason=reason,
                canary_mean_reward=mine.mean,
                incumbent_mean_reward=baseline.mean,
            ),
            subject_type="router_policy",
            subject_id=canary.id,
        )
        return ["router.policy.rolled_back"]
    if verdict is Verdict.PROMOTE:
        reason = f"mean reward {mine.mean:.3f} >= incumbent's {baseline.mean:.3f}"
        incumbent.status = PolicyStatus.RETIRED.value
        incumbent.ended_at, incumbent.end_reason = now, f"replaced by v{canary.version}"
        await session.flush()
        canary.status = PolicyStatus.ACTIVE.value
        canary.traffic_share = 1.0
        await session.flush()
        await record_event(
            session,
            "router.policy.promoted",
            PolicyPromoted(policy_id=canary.id, version=canary.version, reason=reason),
            subject_type="router_policy",
            subject_id=canary.id,
        )
        return ["router.policy.promoted"]
    return []


async def start_canary(
    session: AsyncSession, params: PolicyParams, traffic_share: float
) -> RouterPolicy:
    """A new version serving ``traffic_share`` of conversations, warm-started from the incumbent."""
    repo = PolicyRepository(session)
    live = list(await repo.locked_live())
    incumbent = next((p for p in live if p.status == PolicyStatus.ACTIVE), None)
    if any(p.status == PolicyStatus.CANARY for p in live):
        raise Conflict("a canary is already running", code="canary_running")
    if incumbent is None:
        raise Conflict(
            "the tenant has no active policy yet; ask for a decision first", code="no_policy"
        )
    canary = RouterPolicy(
        version=await repo.next_version(),
        status=PolicyStatus.CANARY.value,
        params=params.model_dump(exclude_none=True),
        traffic_share=traffic_share,
        state=dict(incumbent.state),
        baseline_feedback=incumbent.feedback_count,
        baseline_reward_sum=incumbent.reward_sum,
    )
    await repo.add(canary)
    await record_event(
        session,
        "router.policy.created",
        PolicyCreated(
            policy_id=canary.id,
            version=canary.version,
            traffic_share=traffic_share,
            params=dict(canary.params),
        ),
        subject_type="router_policy",
        subject_id=canary.id,
    )
    return canary
