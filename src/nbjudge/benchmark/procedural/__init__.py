"""The procedural notebook generator (``generate=procedural``): runnable
notebooks with known defects, and their blueprint.

Each of the nine dimensions is written by one code template drawn for the
quality level (3 good, 2 average, 1 bad, or N/A): ``tabular/`` and
``forecasting/`` hold the templates of each task family, one module per
dimension, ``shared/`` those written the same way for every task.
"""

from nbjudge.benchmark.procedural.notebook import (
    LevelDistribution,
    WrittenNotebook,
    generate_notebooks,
    write_notebook,
)
from nbjudge.benchmark.procedural.registry import REGISTRY

__all__ = ["REGISTRY", "LevelDistribution", "WrittenNotebook", "generate_notebooks", "write_notebook"]
