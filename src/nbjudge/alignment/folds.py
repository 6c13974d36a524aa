"""Grouped, stratified K-fold assignment of notebooks, and ``data/folds.json``.

All notebooks of one case share a fold, so a judge aligned on the training
folds has never seen a sibling of a held-out notebook. Folds are stratified
by task type as far as whole cases allow. Each repeat draws its folds from
its own seed, derived from ``(seed, repeat)``.
"""

from __future__ import annotations

import os
import warnings
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sklearn.model_selection import StratifiedGroupKFold

from nbjudge.errors import ConfigError
from nbjudge.schemas import (
    TASK_TYPES,
    FoldRepeat,
    FoldsFile,
    RecordError,
    describe,
    read_json_record,
    write_json_record,
)

__all__ = ["FoldAssignment", "assign_folds", "fold_seed", "read_folds", "write_folds"]

NonEmpty = Annotated[str, Field(min_length=1)]


class FoldAssignment(BaseModel):
    """The fold of every notebook for one repeat of grouped K-fold.

    ``folds`` maps notebook id to fold (``0 .. k-1``), ``cases`` maps notebook
    id to case id. ``seed`` is the experiment's seed, ``fold_seed`` the one
    this repeat's folds were drawn with.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    k: int = Field(ge=2)
    seed: int = Field(ge=0)
    repeat: int = Field(ge=0)
    fold_seed: int = Field(ge=0)
    folds: dict[NonEmpty, int]
    cases: dict[NonEmpty, NonEmpty]

    @model_validator(mode="after")
    def _check_grouped_and_complete(self) -> FoldAssignment:
        if set(self.folds) != set(self.cases):
            missing = sorted(set(self.folds) ^ set(self.cases))
            raise ValueError(
                f"folds and cases must list the same notebooks; differing: {_listing(missing)}"
            )
        outside = sorted(n for n, f in self.folds.items() if not 0 <= f < self.k)
        if outside:
            raise ValueError(f"folds must lie in 0..{self.k - 1}; outside: {_listing(outside)}")
        folds_of_case: dict[str, set[int]] = {}
        for notebook_id, case_id in self.cases.items():
            folds_of_case.setdefault(case_id, set()).add(self.folds[notebook_id])
        split = sorted(c for c, f in folds_of_case.items() if len(f) > 1)
        if split:
            raise ValueError(f"each case must lie in one fold; split across folds: {split}")
        empty = sorted(set(range(self.k)) - set(self.folds.values()))
        if empty:
            raise ValueError(f"every fold needs a notebook; empty folds: {empty}")
        return self

    def _check_fold(self, fold: int) -> None:
        if isinstance(fold, bool) or not isinstance(fold, int) or not 0 <= fold < self.k:
            raise ValueError(f"fold must be an integer in 0..{self.k - 1} (got {fold!r})")

    @property
    def notebook_ids(self) -> list[str]:
        """Every notebook id, sorted."""
        return sorted(self.folds)

    def fold_of(self, notebook_id: str) -> int:
        """The fold in which ``notebook_id`` is held out."""
        try:
            return self.folds[notebook_id]
        except KeyError:
            raise KeyError(f"notebook {notebook_id!r} is not in the fold assignment") from None

    def test_ids(self, fold: int) -> list[str]:
        """The notebooks held out in ``fold``, sorted."""
        self._check_fold(fold)
        return sorted(n for n, f in self.folds.items() if f == fold)

    def train_ids(self, fold: int) -> list[str]:
        """The notebooks whose feedback aligns the judge for ``fold``, sorted."""
        self._check_fold(fold)
        return sorted(n for n, f in self.folds.items() if f != fold)

    def cases_of(self, fold: int) -> list[str]:
        """The cases held out in ``fold``, sorted."""
        self._check_fold(fold)
        return sorted({self.cases[n] for n, f in self.folds.items() if f == fold})


def fold_seed(seed: int, repeat: int) -> int:
    """The random state of one repeat's folds: distinct per repeat, fixed per ``seed``."""
    return int(np.random.SeedSequence([seed, repeat]).generate_state(1)[0])


def assign_folds(
    notebooks: Sequence[tuple[str, str, str]],
    k: int = 4,
    *,
    seed: int,
    repeat: int = 0,
) -> FoldAssignment:
    """Assign ``(notebook_id, case_id, task_type)`` triples to ``k`` grouped folds.

    Every case lands in one fold; scikit-learn's ``StratifiedGroupKFold``
    balances task types across folds where the case sizes allow. Should it
    leave a fold empty (possible when there are barely ``k`` cases), a case
    moves there from the fold holding the most cases. The result depends
    only on the triples, ``k``, ``seed`` and ``repeat``, not on their order.
    """
    rows = _validate(notebooks, k, seed, repeat)
    groups = [case_id for _, case_id, _ in rows]
    types = [task_type for _, _, task_type in rows]
    # StratifiedGroupKFold refuses when no task type has k notebooks; the
    # folds are then simply grouped.
    if max(Counter(types).values()) < k:
        types = ["all"] * len(rows)
    random_state = fold_seed(seed, repeat)
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=random_state)
    with warnings.catch_warnings():
        # Rare task types cannot reach every fold; that is expected here.
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        splits = list(splitter.split(np.zeros(len(rows)), types, groups))
    case_fold = {groups[i]: fold for fold, (_, test) in enumerate(splits) for i in test}
    case_type = {case_id: task_type for _, case_id, task_type in rows}
    case_size = Counter(groups)
    _fill_empty_folds(case_fold, case_type, case_size, k)
    return FoldAssignment(
        k=k,
        seed=seed,
        repeat=repeat,
        fold_seed=random_state,
        folds={notebook_id: case_fold[case_id] for notebook_id, case_id, _ in rows},
        cases={notebook_id: case_id for notebook_id, case_id, _ in rows},
    )


def _validate(
    notebooks: Sequence[tuple[str, str, str]], k: int, seed: int, repeat: int
) -> list[tuple[str, str, str]]:
    if isinstance(k, bool) or not isinstance(k, int) or k < 2:
        raise ValueError(f"k must be an integer of at least 2 (got {k!r}); use k=2 or more folds")
    for name, value in (("seed", seed), ("repeat", repeat)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer (got {value!r})")
    rows = []
    for index, row in enumerate(notebooks):
        if len(row) != 3 or not all(isinstance(x, str) and x for x in row):
            raise ValueError(
                f"notebook {index}: expected (notebook_id, case_id, task_type) as non-empty "
                f"strings (got {row!r})"
            )
        if row[2] not in TASK_TYPES:
            raise ValueError(
                f"notebook {row[0]!r}: unknown task type {row[2]!r}; expected one of {TASK_TYPES}"
            )
        rows.append((row[0], row[1], row[2]))
    if not rows:
        raise ValueError("no notebooks to assign to folds")
    duplicates = sorted(n for n, count in Counter(r[0] for r in rows).items() if count > 1)
    if duplicates:
        raise ValueError(
            f"duplicate notebook ids: {_listing(duplicates)}; each notebook must be listed once"
        )
    types_of_case: dict[str, set[str]] = {}
    for _, case_id, task_type in rows:
        types_of_case.setdefault(case_id, set()).add(task_type)
    mixed = sorted(c for c, t in types_of_case.items() if len(t) > 1)
    if mixed:
        raise ValueError(f"cases with more than one task type: {mixed}; a case has one task type")
    if len(types_of_case) < k:
        raise ConfigError(
            f"only {len(types_of_case)} cases for k={k} folds: grouped folds need at least k "
            f"cases; lower k to {max(len(types_of_case), 2)} or add cases"
        )
    return sorted(rows)


def _fill_empty_folds(
    case_fold: dict[str, int], case_type: dict[str, str], case_size: Counter[str], k: int
) -> None:
    while True:
        members: dict[int, list[str]] = {fold: [] for fold in range(k)}
        for case_id in sorted(case_fold):
            members[case_fold[case_id]].append(case_id)
        empty = [fold for fold in range(k) if not members[fold]]
        if not empty:
            return
        # There are at least k cases, so the fullest fold holds two or more.
        donor = max(range(k), key=lambda fold: (len(members[fold]), -fold))
        type_counts = Counter(case_type[c] for c in members[donor])
        # Move a case of the donor's most repeated task type, the smallest one,
        # which disturbs the stratification least.
        moved = min(members[donor], key=lambda c: (-type_counts[case_type[c]], case_size[c], c))
        case_fold[moved] = empty[0]


def _listing(ids: Sequence[str], limit: int = 10) -> str:
    shown = ", ".join(ids[:limit])
    return shown if len(ids) <= limit else f"{shown} and {len(ids) - limit} more"


def write_folds(path: str | os.PathLike[str], assignments: Sequence[FoldAssignment]) -> None:
    """Write the fold assignments of every repeat to ``path`` (``data/folds.json``), atomically.

    The assignments must share ``k``, ``seed`` and their notebooks, and have
    distinct repeats.
    """
    path = Path(path)
    _check_repeats_agree(list(assignments), str(path))
    first = assignments[0]
    write_json_record(path, FoldsFile(
        k=first.k, seed=first.seed,
        repeats=[FoldRepeat(repeat=a.repeat, seed=a.fold_seed,
                            folds={n: a.folds[n] for n in a.notebook_ids},
                            cases={n: a.cases[n] for n in a.notebook_ids})
                 for a in sorted(assignments, key=lambda a: a.repeat)]))


def read_folds(path: str | os.PathLike[str]) -> list[FoldAssignment]:
    """Read and validate ``data/folds.json``; one assignment per repeat, by repeat.

    Raises :class:`~nbjudge.schemas.RecordError` naming the file and the
    field when the file is missing or malformed.
    """
    path = Path(path)
    parsed = read_json_record(path, FoldsFile, "fold file")
    assignments = []
    for index, entry in enumerate(parsed.repeats):
        try:
            assignments.append(
                FoldAssignment(
                    k=parsed.k,
                    seed=parsed.seed,
                    repeat=entry.repeat,
                    fold_seed=entry.seed,
                    folds=entry.folds,
                    cases=entry.cases,
                )
            )
        except ValidationError as exc:
            raise RecordError(f"{path}: repeats.{index}: {describe(exc, whole='repeat')}") from None
    try:
        _check_repeats_agree(assignments, str(path))
    except ValueError as exc:
        raise RecordError(str(exc)) from None
    return sorted(assignments, key=lambda a: a.repeat)


def _check_repeats_agree(assignments: list[FoldAssignment], where: str) -> None:
    if not assignments:
        raise ValueError(f"{where}: no fold assignments to write")
    first = assignments[0]
    for a in assignments[1:]:
        if (a.k, a.seed) != (first.k, first.seed):
            raise ValueError(
                f"{where}: repeats disagree on k/seed: repeat {first.repeat} has "
                f"k={first.k}, seed={first.seed}; repeat {a.repeat} has k={a.k}, seed={a.seed}"
            )
        if set(a.folds) != set(first.folds):
            differing = sorted(set(a.folds) ^ set(first.folds))
            raise ValueError(
                f"{where}: repeats {first.repeat} and {a.repeat} hold different notebooks: "
                f"{_listing(differing)}"
            )
    repeats = [a.repeat for a in assignments]
    duplicated = sorted(r for r, count in Counter(repeats).items() if count > 1)
    if duplicated:
        raise ValueError(f"{where}: repeat numbers must be distinct; duplicated: {duplicated}")
