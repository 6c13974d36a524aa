"""Comparing arms (agent builds, writer models) with the judges, and gating a release.

The statistics live in :mod:`nbjudge.stats.compare`; this package turns their records
into decisions: :mod:`nbjudge.compare.gate` is ``python -m nbjudge gate``.
"""

from .gate import (
    EXIT_PASS,
    EXIT_REGRESSION,
    EXIT_UNDECIDED,
    DimensionVerdict,
    GateResult,
    GateSettings,
    evaluate_gate,
    parse_tolerances,
)

__all__ = [
    "EXIT_PASS",
    "EXIT_REGRESSION",
    "EXIT_UNDECIDED",
    "DimensionVerdict",
    "GateResult",
    "GateSettings",
    "evaluate_gate",
    "parse_tolerances",
]
