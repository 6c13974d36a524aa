"""Statistics of judge-human agreement: pure functions over label and judgment records.

Agreement metrics, the paired cluster bootstrap over notebooks, sign-flip
tests with Holm/BH adjustment, the human ceiling and power. Imports nothing
from nbjudge but :mod:`nbjudge.schemas`, and no MLflow or LLM client.
"""

from .agreement import AgreementResult, agreement, krippendorff_alpha, quadratic_kappa
from .bootstrap import BootstrapResult, ConfidenceInterval, Statistic, bootstrap_agreement
from .ceiling import CeilingResult, human_ceiling
from .curve import curve_table
from .experiment import ExperimentStats, StatsConfig, analyze_experiment
from .permutation import CORRECTIONS, SignFlipResult, adjust_pvalues, sign_flip_test
from .power import PowerResult, power_analysis

__all__ = [
    "CORRECTIONS",
    "AgreementResult",
    "BootstrapResult",
    "CeilingResult",
    "ConfidenceInterval",
    "ExperimentStats",
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
    "power_analysis",
    "quadratic_kappa",
    "sign_flip_test",
]
