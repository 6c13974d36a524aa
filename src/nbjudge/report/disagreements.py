"""The notebooks where a judge and the humans disagree most, with a look at the code.

The excerpt is the code cell that mentions the dimension's subject most
often (counted with a short keyword list per dimension, e.g. ``fillna`` and
``Imputer`` for imputation), cut to a few lines: enough for a reader to see
who is right without opening the notebook.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import nbformat

from nbjudge.schemas import Judgment, Label
from nbjudge.stats import NA_POLICIES, score_distance

__all__ = [
    "DIMENSION_KEYWORDS",
    "Disagreement",
    "Excerpt",
    "HumanRating",
    "largest_disagreements",
    "notebook_excerpt",
]

DIMENSION_KEYWORDS: dict[str, tuple[str, ...]] = {
    "library_installation": ("pip install", "%pip", "!pip", "requirements", "import "),
    "data_exploration": (".info(", ".describe(", ".head(", "value_counts", ".corr(", ".isna(",
                         ".plot(", "hist", "shape"),
    "data_imputation": ("imputer", "fillna", "dropna", "interpolate", "ffill", "bfill",
                        ".isna(", "missing"),
    "feature_engineering": ("onehotencoder", "columntransformer", "scaler", "get_dummies",
                            "encoder", "lag", "feature", "polynomial"),
    "model_training": (".fit(", "gridsearchcv", "randomizedsearchcv", "cross_val", "pipeline(",
                       "parametergrid", "train_test_split", "timeseriessplit"),
    "model_use": (".predict(", "predict_proba", "to_csv", "submission", "forecast",
                  "load_model"),
    "metrics_evaluation": ("score(", "metric", "accuracy", "f1", "roc_auc", "precision",
                           "recall", "mean_absolute_error", "mean_squared_error",
                           "classification_report", "confusion_matrix"),
    "mlflow_logging": ("mlflow",),
    "cell_organization": ("def ", "#", "import "),
}


@dataclass(frozen=True)
class HumanRating:
    rater_id: str
    score: int | str
    rationale: str


@dataclass(frozen=True)
class Disagreement:
    """One judgment far from the human consensus (N/A encoded as 0; its distance follows
    the stats stage's ``na_policy``)."""

    notebook_id: str
    dimension: str
    variant: str
    repeat: int
    fold: int | None
    human_score: float
    ratings: tuple[HumanRating, ...]
    judge_score: int | str
    judge_rationale: str
    distance: float


@dataclass(frozen=True)
class Excerpt:
    """A few lines of one code cell (1-based ``cell``) and the error it raised, if any."""

    cell: int
    text: str
    error: str | None = None


def _encode(score: int | str) -> float:
    return 0.0 if score == "N/A" else float(score)


def largest_disagreements(
    labels: Iterable[Label],
    judgments: Iterable[Judgment],
    *,
    n: int = 10,
    na_policy: str = "zero",
    variants: Sequence[str] = (),
) -> list[Disagreement]:
    """The ``n`` (notebook, dimension) pairs with the largest judge-human distance.

    Each pair appears once, with its farthest judgment (over variants and
    repeats); ties go to the variant listed first in ``variants`` (then by
    name). With ``na_policy="exclude"`` pairs where either side is N/A are
    skipped, as in the statistics. Pairs where judge and humans agree are
    never listed.
    """
    if na_policy not in NA_POLICIES:
        raise ValueError(f"na_policy must be one of {', '.join(map(repr, NA_POLICIES))}; "
                         f"got {na_policy!r}")
    if n < 0:
        raise ValueError(f"n must be non-negative; got {n}")
    ratings: dict[tuple[str, str], list[Label]] = {}
    for label in labels:
        ratings.setdefault((label.notebook_id, label.dimension), []).append(label)
    rank = {name: i for i, name in enumerate(variants)}
    best: dict[tuple[str, str], tuple[tuple[float, int, str, int], Disagreement]] = {}
    for j in judgments:
        key = (j.notebook_id, j.dimension)
        if j.status != "ok" or j.score is None or key not in ratings:
            continue
        scores = [_encode(label.score) for label in ratings[key]]
        if na_policy == "exclude":
            if j.score == "N/A" or all(s == 0 for s in scores):
                continue
            scores = [s for s in scores if s != 0]
        human = sum(scores) / len(scores)
        distance = float(score_distance(human, _encode(j.score), na_policy=na_policy))
        if distance == 0:
            continue
        order = (-distance, rank.get(j.variant, len(rank)), j.variant, j.repeat)
        if key in best and best[key][0] <= order:
            continue
        best[key] = (order, Disagreement(
            notebook_id=j.notebook_id, dimension=j.dimension, variant=j.variant,
            repeat=j.repeat, fold=j.fold, human_score=human,
            ratings=tuple(HumanRating(label.rater_id, label.score, label.rationale)
                          for label in sorted(ratings[key], key=lambda r: r.rater_id)),
            judge_score=j.score, judge_rationale=(j.rationale or "").strip(),
            distance=distance))
    ranked = sorted(best.items(), key=lambda item: (item[1][0][0], item[0], item[1][0][1:]))
    return [found for _, (_, found) in ranked[:n]]


def _cut_lines(text: str, max_lines: int, max_chars: int) -> str:
    lines = text.rstrip().splitlines()
    cut = len(lines) > max_lines
    text = "\n".join(lines[:max_lines])
    if len(text) > max_chars:
        text, cut = text[:max_chars].rstrip(), True
    return text + ("\n…" if cut else "")


def _error_line(cell: nbformat.NotebookNode) -> str | None:
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            return f"{output.get('ename', 'Error')}: {output.get('evalue', '')}".strip()
    return None


def notebook_excerpt(
    path: str | Path, dimension: str, *, max_lines: int = 12, max_chars: int = 700
) -> Excerpt | None:
    """The code cell of ``path`` most about ``dimension``; None if the file cannot be read.

    Cells are scored by how many of the dimension's keywords they contain
    (case-insensitive); the earliest best cell wins, and the first code cell
    when none matches.
    """
    path = Path(path)
    try:
        notebook = nbformat.read(path, as_version=4)
    except (OSError, ValueError):
        return None
    keywords = DIMENSION_KEYWORDS.get(dimension, ())
    best: tuple[int, int] | None = None
    for number, cell in enumerate(notebook.cells, start=1):
        if cell.cell_type != "code" or not cell.source.strip():
            continue
        source = cell.source.lower()
        hits = sum(source.count(k) for k in keywords)
        if best is None or hits > best[0]:
            best = (hits, number)
    if best is None:
        return None
    cell = notebook.cells[best[1] - 1]
    text = re.sub(r"\n{3,}", "\n\n", cell.source)
    return Excerpt(cell=best[1], text=_cut_lines(text, max_lines, max_chars),
                   error=_error_line(cell))
