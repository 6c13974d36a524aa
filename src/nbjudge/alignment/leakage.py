"""The leakage check: nothing held out in a fold may reach that fold's judge.

A judge aligned for fold ``f`` must not carry a held-out notebook of ``f``,
nor another notebook of a held-out case, in its memory (the source ids of
its guidelines and its episodic examples) or in what it retrieved while
judging. These functions take notebook ids: memories and retrievals hold
MLflow trace ids, which the caller maps to notebook ids first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from nbjudge.errors import NbjudgeError

from .folds import FoldAssignment

__all__ = ["Leak", "LeakageError", "assert_no_leakage", "check_leakage"]

Location = Literal["memory", "retrieval"]


@dataclass(frozen=True)
class Leak:
    """One held-out notebook, or a sibling of one, found where the judge could see it.

    ``location`` is ``"memory"`` or ``"retrieval"``; for a retrieval,
    ``retrieved_for`` is the notebook being judged when it was retrieved.
    ``reason`` is ``"held_out"`` (the notebook itself is held out) or
    ``"same_case"`` (it shares ``case_id`` with the held-out ``held_out_id``).
    """

    notebook_id: str
    location: Location
    retrieved_for: str | None
    reason: Literal["held_out", "same_case"]
    held_out_id: str
    case_id: str

    def describe(self) -> str:
        """``nb-7 in retrieval for nb-2 (same case c-3 as held-out nb-5)``."""
        where = "memory" if self.location == "memory" else f"retrieval for {self.retrieved_for}"
        if self.reason == "held_out":
            why = f"held out, case {self.case_id}"
        else:
            why = f"same case {self.case_id} as held-out {self.held_out_id}"
        return f"{self.notebook_id} in {where} ({why})"


class LeakageError(NbjudgeError):
    """A fold's memory or retrievals contain held-out notebooks; the message names them."""

    def __init__(self, fold: int, repeat: int, leaks: list[Leak]) -> None:
        self.fold = fold
        self.repeat = repeat
        self.leaks = leaks
        listed = "; ".join(leak.describe() for leak in leaks)
        super().__init__(
            f"fold {fold} (repeat {repeat}) leaks {len(leaks)} held-out notebook "
            f"occurrence(s) into its judge: {listed}"
        )


def check_leakage(
    fold_assignment: FoldAssignment,
    fold: int,
    case_of: Mapping[str, str],
    memory_ids: Iterable[str],
    retrievals: Mapping[str, Iterable[str]],
) -> list[Leak]:
    """List every leak of ``fold``'s held-out cases into its memory or retrievals.

    ``case_of`` maps notebook id to case id; it may add notebooks the fold
    assignment does not know, never contradict it. ``memory_ids`` are the
    notebook ids behind the fold's guidelines and episodic examples;
    ``retrievals`` maps each judged notebook to the notebook ids retrieved
    for it. Every id must be a known notebook id, so that an unmapped trace
    id cannot pass unchecked. Returns memory leaks, then retrieval leaks,
    each sorted; an empty list means the fold is clean.
    """
    if isinstance(memory_ids, str) or any(isinstance(v, str) for v in retrievals.values()):
        raise TypeError("memory_ids and each retrieval must be collections of ids, not one string")
    known = _merge_cases(fold_assignment, case_of)
    held_out = fold_assignment.test_ids(fold)
    held_out_of_case: dict[str, str] = {}
    for notebook_id in held_out:
        held_out_of_case.setdefault(known[notebook_id], notebook_id)
    held_out_set = set(held_out)

    def leak(notebook_id: str, location: Location, retrieved_for: str | None) -> Leak | None:
        case_id = _case(known, notebook_id, location, retrieved_for)
        if notebook_id in held_out_set:
            return Leak(notebook_id, location, retrieved_for, "held_out", notebook_id, case_id)
        if case_id in held_out_of_case:
            held = held_out_of_case[case_id]
            return Leak(notebook_id, location, retrieved_for, "same_case", held, case_id)
        return None

    leaks = [leak(n, "memory", None) for n in sorted(set(memory_ids))]
    for judged in sorted(retrievals):
        _case(known, judged, "retrievals (as the judged notebook)", None)
        leaks.extend(leak(n, "retrieval", judged) for n in sorted(set(retrievals[judged])))
    return [item for item in leaks if item is not None]


def assert_no_leakage(
    fold_assignment: FoldAssignment,
    fold: int,
    case_of: Mapping[str, str],
    memory_ids: Iterable[str],
    retrievals: Mapping[str, Iterable[str]],
) -> None:
    """Raise :class:`LeakageError` naming the leaked notebooks if ``fold`` leaks."""
    leaks = check_leakage(fold_assignment, fold, case_of, memory_ids, retrievals)
    if leaks:
        raise LeakageError(fold, fold_assignment.repeat, leaks)


def _merge_cases(fold_assignment: FoldAssignment, case_of: Mapping[str, str]) -> dict[str, str]:
    known = dict(fold_assignment.cases)
    conflicts = sorted(n for n, c in case_of.items() if n in known and known[n] != c)
    if conflicts:
        detail = ", ".join(
            f"{n}: {case_of[n]} (case_of) vs {known[n]} (folds)" for n in conflicts[:5]
        )
        raise ValueError(f"case_of contradicts the fold assignment for {detail}")
    known.update(case_of)
    return known


def _case(known: Mapping[str, str], notebook_id: str, location: str, judged: str | None) -> str:
    try:
        return known[notebook_id]
    except KeyError:
        where = location if judged is None else f"{location} for {judged}"
        raise ValueError(
            f"{notebook_id!r} in {where} is not a known notebook id; map MLflow trace ids to "
            "notebook ids before checking for leakage"
        ) from None
