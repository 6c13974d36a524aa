"""Statistics of judge-human agreement: pure functions over label and judgment records.

Agreement metrics, the paired cluster bootstrap over notebooks or cases,
cluster-robust intervals of paired differences, sign-flip tests flipping
whole cases with Holm/BH adjustment, the human ceiling and the power of the
adjusted verdict. Imports nothing
from nbjudge but :mod:`nbjudge.schemas`, and no MLflow or LLM client.
"""

from ._checks import NA_POLICIES
from .agreement import AgreementResult, agreement, krippendorff_alpha, quadratic_kappa
from .bootstrap import BootstrapResult, ConfidenceInterval, Statistic, bootstrap_agreement
from .ceiling import CeilingResult, human_ceiling
from .curve import curve_table
from .experiment import ExperimentStats, StatsConfig, analyze_experiment
from .paired import PAIRED_METHODS, PairedInterval, paired_interval
from .permutation import CORRECTIONS, SignFlipResult, adjust_pvalues, sign_flip_test
from .power import PowerResult, power_analysis
from .tables import score_distance

__all__ = [
    "CORRECTIONS",
    "NA_POLICIES",
    "PAIRED_METHODS",
    "AgreementResult",
    "BootstrapResult",
    "CeilingResult",
    "ConfidenceInterval",
    "ExperimentStats",
    "PairedInterval",
    "PowerResult",
    "SignFlipResult",
    "Statistic",
    "StatsConfig",
    "adjust_pvalues",
    "agreement",
    "analyze_experiment",
    "bootstrap_agreement",
    "curve_table",
    "human_ceiling",
    "krippendorff_alpha",
    "paired_interval",
    "power_analysis",
    "quadratic_kappa",
    "score_distance",
    "sign_flip_test",
]
