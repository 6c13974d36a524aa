"""The calibrated judge sets of ``compare.judges``: a judge's scores through a monotone map
learned from every expert label of the experiment.

- ``calibrated``: the rubric (baseline) judges' scores, the map fit on the baseline judge's
  score of every labelled notebook against the human consensus;
- ``calibrated_full``: the registered aligned judges' scores, the map fit on the ``full``
  judges' scores of every labelled notebook, each judged out of its own fold (the
  cross-validated judges of the align stage, every repeat): the registered judges hold every
  label in their memory, so their own scores of the labelled notebooks would teach the map
  nothing about a notebook they have not seen.

The map is the experiment's control (:func:`nbjudge.controls.calibration.fit_calibration`:
isotonic, N/A explicit, the dimension's majority score where the pairs say nothing), learned
here on all labels, as ``register`` aligns the judges on all labels, and applied after judging:
the requests are the underlying judges' own, so are their cached answers. The map is fixed
before any compared notebook is judged and is the same for every arm, so it cannot favour one;
the compared notebooks' grades (PPI) never enter it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from nbjudge.controls import (
    CALIBRATED_FROM,
    CALIBRATION_METHOD,
    ControlSettings,
    fit_calibration,
    human_consensus,
    majority_score,
)
from nbjudge.controls.noskill import SCORE_KEYS, encode
from nbjudge.errors import InputError
from nbjudge.schemas import Judgment, Label, Score

__all__ = ["CALIBRATED_SETS", "Calibration", "apply_calibration", "fit_all_labels"]

# compare.judges -> the judge set whose scores it maps
CALIBRATED_SETS: dict[str, str] = {"calibrated": "baseline", "calibrated_full": "registered"}


@dataclass(frozen=True)
class Calibration:
    """One map per dimension (judge score -> calibrated score), and what it was learned from."""

    variant: str                          # calibrated, calibrated_full
    source: str                           # the experiment variant whose scores taught it
    maps: dict[str, dict[str, Score]]     # dimension -> {"N/A", "1", "2", "3"} -> score
    n_training: dict[str, int]            # dimension -> labelled notebooks it was fit on

    def describe(self, dimension: str) -> str:
        """The map of ``dimension`` as a record's rationale states it."""
        shown = ", ".join(f"{k}->{v}" for k, v in self.maps[dimension].items())
        how = ("" if self.source == "baseline"
               else ", each judged out of its own fold")
        return (f"{self.variant}: {CALIBRATION_METHOD} map fit on the {self.source} scores of "
                f"{self.n_training[dimension]} labelled notebooks{how}, all labels ({shown})")


def fit_all_labels(variant: str, labels: Iterable[Label], judgments: Iterable[Judgment],
                   settings: ControlSettings, dimensions: Sequence[str]) -> Calibration:
    """The ``variant`` map of each of ``dimensions`` learned on every label: ``judgments``
    holds the experiment's judgments of the labelled notebooks (those of other variants are
    ignored), ``settings`` the human consensus of the statistics."""
    source = CALIBRATED_FROM[variant]
    human = human_consensus(labels, settings)
    pairs: dict[str, list[tuple[float, float]]] = {d: [] for d in dimensions}
    taught: dict[str, set[str]] = {d: set() for d in dimensions}
    for j in judgments:
        # the baseline judge is not aligned; a full judgment counts only out of its fold
        if j.variant != source or (source != "baseline" and j.fold is None):
            continue
        if j.status == "ok" and j.score is not None and (j.notebook_id, j.dimension) in human \
                and j.dimension in pairs:
            pairs[j.dimension].append((encode(j.score), human[(j.notebook_id, j.dimension)]))
            taught[j.dimension].add(j.notebook_id)
    maps: dict[str, dict[str, Score]] = {}
    for dimension in dimensions:
        majority = majority_score([h for (n, d), h in human.items() if d == dimension])
        if majority is None or not pairs[dimension]:
            raise InputError(
                f"compare.judges={variant}: no labelled notebook with a {source} score on "
                f"{dimension} to learn the calibration from; run the experiment's stages "
                f"(`dvc repro {'judge' if source == 'baseline' else 'align'}`) on labelled "
                "notebooks, or choose another compare.judges")
        maps[dimension] = fit_calibration([p[0] for p in pairs[dimension]],
                                          [p[1] for p in pairs[dimension]], fallback=majority)
    # a notebook judged in several repeats counts once per repeat, the same for every notebook
    return Calibration(variant, source, maps, {d: len(taught[d]) for d in dimensions})


def apply_calibration(judgments: Iterable[Judgment], calibration: Calibration
                      ) -> list[Judgment]:
    """``judgments`` with each score mapped, the map stated in the rationale; a failed
    judgment stays failed (nothing to map)."""
    mapped = []
    for j in judgments:
        if j.status != "ok" or j.score is None:
            mapped.append(j)
            continue
        score = calibration.maps[j.dimension][SCORE_KEYS[int(encode(j.score))]]
        said = f"the judge said {j.score}; {calibration.describe(j.dimension)}"
        mapped.append(j.model_copy(update={
            "score": score, "rationale": f"{said}. {j.rationale or ''}".rstrip()}))
    return mapped
