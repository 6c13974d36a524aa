"""Alignment of judges with human feedback: folds, audits of memories, the leakage check.

Pure functions and records; nothing here imports MLflow at module level.
"""

from .audit import AlignmentAudit, Guideline, read_audit, write_audit
from .folds import FoldAssignment, assign_folds, fold_seed, read_folds, write_folds
from .leakage import Leak, LeakageError, assert_no_leakage, check_leakage

__all__ = [
    "AlignmentAudit",
    "FoldAssignment",
    "Guideline",
    "Leak",
    "LeakageError",
    "assert_no_leakage",
    "assign_folds",
    "check_leakage",
    "fold_seed",
    "read_audit",
    "read_folds",
    "write_audit",
    "write_folds",
]
