"""Every template of the generator, in the order draws pick them from.

Changing this order, or the order of templates within a module, changes which
notebook a seed gives (tests/benchmark/test_golden.py pins the output).
"""

from nbjudge.benchmark.procedural import forecasting, tabular
from nbjudge.benchmark.procedural.shared import (
    cell_organization,
    library_installation,
    mlflow_logging,
)
from nbjudge.benchmark.procedural.templates import TemplateRegistry

__all__ = ["REGISTRY"]

REGISTRY = TemplateRegistry([
    *library_installation.TEMPLATES,
    *mlflow_logging.TEMPLATES,
    *tabular.TEMPLATES,
    *forecasting.TEMPLATES,
    *cell_organization.TEMPLATES,
])
