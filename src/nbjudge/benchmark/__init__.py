"""The controlled benchmark: test cases, datasets, generated notebooks, expert labels.

Nothing here sees a judge; judges never see the blueprint this package writes.
"""

from nbjudge.benchmark.datasets import DATASETS, Dataset, DatasetSpec, build_dataset
from nbjudge.benchmark.procedural import LevelDistribution, generate_notebooks, write_notebook
from nbjudge.benchmark.suites import SuiteError, build_cases, load_suite

__all__ = [
    "DATASETS",
    "Dataset",
    "DatasetSpec",
    "LevelDistribution",
    "SuiteError",
    "build_cases",
    "build_dataset",
    "generate_notebooks",
    "load_suite",
    "write_notebook",
]
