"""Statistics of judge-human agreement: pure functions over label and judgment records.

Agreement metrics, the paired cluster bootstrap over notebooks, sign-flip
tests with Holm/BH adjustment, the human ceiling and power. Imports nothing
from nbjudge but :mod:`nbjudge.schemas`, and no MLflow or LLM client.
"""

from .agreement import (
    CATEGORIES,
    AgreementResult,
    agreement,
    confusion_matrix,
    krippendorff_alpha,
    quadratic_kappa,
)
from .bootstrap import BootstrapResult, ConfidenceInterval, Statistic, bootstrap_agreement
from .ceiling import CeilingResult, gap_closed, human_ceiling
from .experiment import (
    BootstrapSettings,
    CeilingSettings,
    ExperimentStats,
    PermutationSettings,
    PowerSettings,
    StatsConfig,
    analyze_experiment,
)
from .permutation import CORRECTIONS, SignFlipResult, adjust_pvalues, sign_flip_test
from .power import PowerResult, power_analysis
from .tables import (
    ScoreTable,
    build_table,
    comparison_differences,
    consensus,
    judgment_counts,
    label_counts,
    paired_errors,
)

__all__ = [
    "CATEGORIES",
    "CORRECTIONS",
    "AgreementResult",
    "BootstrapResult",
    "BootstrapSettings",
    "CeilingResult",
    "CeilingSettings",
    "ConfidenceInterval",
    "ExperimentStats",
    "PermutationSettings",
    "PowerResult",
    "PowerSettings",
    "ScoreTable",
    "SignFlipResult",
    "Statistic",
    "StatsConfig",
    "adjust_pvalues",
    "agreement",
    "analyze_experiment",
    "bootstrap_agreement",
    "build_table",
    "comparison_differences",
    "confusion_matrix",
    "consensus",
    "gap_closed",
    "human_ceiling",
    "judgment_counts",
    "krippendorff_alpha",
    "label_counts",
    "paired_errors",
    "power_analysis",
    "quadratic_kappa",
    "sign_flip_test",
]
