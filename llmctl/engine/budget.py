"""Cost in plans: the estimate and its delta, the budget verdict, and the budget during the
rollouts a plan starts (a canary's extra replicas)."""

from __future__ import annotations

from llmctl.errors import BudgetExceeded
from llmctl.ir import Deployment
from llmctl.plan import Plan
from llmctl.releases.revisions import Revision


def price(result: Plan, deployment: Deployment, last: Revision | None) -> None:
    """Attach the cost estimate (delta against the applied revision) and the budget verdict;
    `on_exceed: warn` over budget becomes a plan warning."""
    from llmctl.cost.estimate import check_rollout_budget, estimate, rollout_surge_cost
    from llmctl.rollout.plan import changed_models

    current = last.load_ir() if last is not None else None
    cost = estimate(deployment, current)
    result.cost = cost.to_json()
    if cost.budget is not None and cost.budget.status == "warn":
        result.warnings.append(cost.budget.message)
    # A canary or blue-green copy runs beside the stable replicas: the budget must hold then too.
    rollouts = []
    for _, model in changed_models(current, deployment):
        if model.rollout.strategy == "rolling":
            continue
        check = check_rollout_budget(deployment, model, cost)
        rollouts.append(
            {
                "model": model.name,
                "strategy": model.rollout.strategy,
                "surge_monthly_usd": rollout_surge_cost(deployment, model),
                "budget": check.to_json(),
                "hint": check.hint,
            }
        )
        if check.status == "warn":
            result.warnings.append(check.message)
    if rollouts:
        result.cost["rollouts"] = rollouts


def enforce_budget(result: Plan) -> None:
    """Raise BudgetExceeded (exit 3) when the plan, or a rollout it starts, is over budget with
    `on_exceed: block`."""
    budget = (result.cost or {}).get("budget") or {}
    for rollout in (result.cost or {}).get("rollouts") or []:
        verdict = rollout.get("budget") or {}
        if verdict.get("status") == "block" and budget.get("status") != "block":
            raise BudgetExceeded(str(verdict.get("message")), hint=str(rollout.get("hint")))
    if budget.get("status") != "block":
        return
    pools = sorted(
        (result.cost or {}).get("by_pool") or [], key=lambda p: -float(p["monthly_usd"]["max"])
    )[:3]
    largest = ", ".join(f"{p['pool']} {p['monthly_usd']['max']:,.0f} USD" for p in pools)
    raise BudgetExceeded(
        str(budget.get("message") or "over budget"),
        hint=str(budget.get("hint") or "")
        or (f"largest at max: {largest}; " if largest else "")
        + "raise budget.monthly_usd, or set budget.on_exceed: warn",
    )
