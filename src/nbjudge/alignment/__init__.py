"""Alignment of judges with human feedback (MemAlign).

- :mod:`~nbjudge.alignment.folds`: grouped K-fold assignments, written to ``data/folds.json``;
- :mod:`~nbjudge.alignment.memalign`: MemAlign for one dimension, its memory variants;
- :mod:`~nbjudge.alignment.crossval`: align on the training folds, judge the held-out
  fold, audit what each judge learned and retrieved;
- :mod:`~nbjudge.alignment.leakage`: no held-out notebook in its own judge's memory;
- :mod:`~nbjudge.alignment.final`: the judges aligned on every label, registered in MLflow.

The package exports the pure parts (folds, the leakage check); the modules
that drive MemAlign and MLflow are imported by name, so a stage that only
assigns folds does not run (or depend on) the judging code. Audit and fold
records are in :mod:`nbjudge.schemas`.
"""

from .folds import FoldAssignment, assign_folds, read_folds, write_folds
from .leakage import LeakageError, assert_no_leakage, check_leakage

__all__ = [
    "FoldAssignment",
    "LeakageError",
    "assert_no_leakage",
    "assign_folds",
    "check_leakage",
    "read_folds",
    "write_folds",
]
