"""Know before you send: what a run will ask its model, and what that costs.

- :mod:`~nbjudge.plan.core`: plan lines priced with litellm's bundled price list,
  the table, the check against ``llm.max_requests`` and ``llm.max_cost``;
- :mod:`~nbjudge.plan.judging`: the plans of ``judge`` (exact: the requests the
  stage builds, looked up in the answer cache), ``align@<variant>`` and
  ``register`` (upper bounds: what MemAlign distils is not known before);
- :mod:`~nbjudge.plan.writing`: the plan of ``generate`` with ``generate=llm``;
- :mod:`~nbjudge.plan.pipeline`: the whole pipeline's plan for ``python -m nbjudge
  plan``, estimated where a stage's inputs do not exist yet.

Stages import the module they need, so a stage runs only its own planning code.
"""

from nbjudge.plan.core import (
    PlanExceedsBudgetError,
    announce,
    cached_keys,
    check_budget,
    format_plans,
    plan_line,
    price_of,
    total_cost,
)

__all__ = [
    "PlanExceedsBudgetError",
    "announce",
    "cached_keys",
    "check_budget",
    "format_plans",
    "plan_line",
    "price_of",
    "total_cost",
]
