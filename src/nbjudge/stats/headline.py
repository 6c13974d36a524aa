"""The headline of an experiment: the numbers a team compares across experiments.

``reports/metrics.json`` is what plain ``dvc exp show`` and ``dvc metrics diff`` list,
one column per leaf, left to right in this order; the full analysis (every interval end,
method, sample size) has a thousand leaves and lives in ``reports/metrics_detail.json``,
which the report reads and ``dvc metrics show reports/metrics_detail.json`` lists. A
column of ``dvc exp show`` is as wide as its dotted name, and DVC's pager shows at most
1,024 characters of table, dropping columns from the right: the headline keeps one
column per variant and one per judge variant and dimension (about 900 characters with
the default two judge variants, four controls and nine dimensions,
tests/stats/test_headline.py), the most compared first:

- what the experiment is (:func:`experiment_identity`): ``suite``, ``generate``,
  ``labels``, ``llm``, ``model``, ``memory`` (the Hydra group choices and the judge's
  model, as short strings) and ``rng_seed``, so that two experiments' rows say what
  differs,
- ``warning``: when the numbers mean nothing its label only (``SMOKE TEST:
  meaningless``; the detail file's ``warning`` holds the sentence), else empty,
- ``mae_mean.<variant>``: each variant's MAE averaged over the dimensions, the reference
  first, then the judge variants, then the controls,
- ``status`` (before the mean MAEs when it is not ``ok``: then there are none, and a
  ``message`` says why),
- ``significant.<variant>``: for each judge variant, on how many dimensions its
  improvement over the reference passes the configured verdict rule (the detail file
  says which dimensions, with the rule, interval and p-value),
- ``improvement.<variant>.<dimension>``: MAE(reference) - MAE(variant), positive is
  better, for the default comparisons (every judge variant against the reference);
- ``robustness.<measure>.<judge>@<defence>`` when the robustness stage ran: the mean
  injection shift (``susceptibility``), the share of cosmetic variants left unmoved
  (``invariance``), the share of defects that lowered their dimension (``sensitivity``).

The reference's MAE per dimension, each improvement's interval and significance, the
controls' contrasts and everything else stay in the detail file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from nbjudge.schemas import atomic_write_text

__all__ = ["experiment_identity", "headline_metrics", "headline_warning", "write_headline"]

# The warning's label is its text up to the first colon ("SMOKE TEST"), at most this long.
_LABEL_CHARS = 24


def headline_warning(warning: str) -> str:
    """The short form of ``warning`` the headline shows: its label (the text before the
    first colon) and that the numbers are meaningless. A column of ``dvc exp show`` is
    as wide as its longest value, and the whole sentence (126 characters for the smoke
    model) left no room for any number in a 200-column terminal."""
    label = warning.split(":", 1)[0].strip()
    if not label or len(label) > _LABEL_CHARS:
        label = "WARNING"
    return f"{label}: meaningless"


# The memory group's choices (conf/memory/) by the variants they align.
_MEMORY_CHOICES = {("full",): "full", ("semantic_only",): "semantic_only",
                   ("full", "semantic_only"): "both"}


def experiment_identity(params: Mapping[str, Any]) -> dict[str, Any]:
    """What an experiment is, from ``params.yaml`` (as plain data): the leftmost columns
    of ``dvc exp show``, one short value each, so that two experiments' rows say what
    differs (``dvc exp run -S memory=semantic_only``, ``-S llm=openai -S
    llm.model=gpt-4o``) without a flag.

    Each Hydra group choice (``conf/config.yaml`` defaults) is read back from a value
    its group file sets, so an override of the group or of the value shows alike:
    ``suite`` (``suite.name``), ``generate`` (``generate.backend``), ``labels``
    (``labels.source``), ``llm`` (``llm.backend``), ``model`` (``llm.model``), ``memory``
    (``ablation.memory_variants``: ``both``, ``full`` or ``semantic_only``) and
    ``rng_seed`` (``seed``: a metric named as a parameter is shown by DVC as
    ``reports/metrics.json:seed``, 25 characters wide). The ``judge`` and ``stats``
    groups have one choice each and ``compare`` does not change these numbers (its
    headline is ``reports/compare.json``): none is a column. A section the params
    leave out (a test's small params file) is left out here."""
    def value(section: str, key: str) -> Any:
        found = params.get(section)
        return found.get(key) if isinstance(found, Mapping) else None

    variants = value("ablation", "memory_variants")
    memory = None if variants is None else _MEMORY_CHOICES.get(
        tuple(sorted(set(variants))), "+".join(variants) or "none")
    identity = {"suite": value("suite", "name"), "generate": value("generate", "backend"),
                "labels": value("labels", "source"), "llm": value("llm", "backend"),
                "model": value("llm", "model"), "memory": memory,
                "rng_seed": params.get("seed")}
    return {key: item for key, item in identity.items() if item is not None}


def headline_metrics(detail: Mapping[str, Any], *, reference: str,
                     warning: str | None = None,
                     robustness: Mapping[str, Any] | None = None,
                     identity: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The headline of ``detail`` (the content :func:`analyze_experiment` returns).

    ``reference`` is the variant every improvement is measured against
    (``stats.reference``); ``identity`` (:func:`experiment_identity`) comes first.
    Without judgments the headline is the identity, the status and the message alone.
    """
    if "status" not in detail:
        raise ValueError("the detail metrics have no 'status': pass the content "
                         "analyze_experiment returns (ExperimentStats.metrics)")
    headline: dict[str, Any] = dict(identity or {})
    # Always a leaf, empty when the numbers are worth something: DVC orders the columns
    # as the first row (the workspace) lists them, and a warning missing there would move
    # the column to the right end, beyond the pager's width, for every row.
    headline["warning"] = "" if warning is None else headline_warning(warning)
    if detail["status"] != "ok":
        headline["status"] = detail["status"]
        if detail.get("message"):
            headline["message"] = detail["message"]
        return headline
    if reference not in (detail.get("mae") or {}):
        raise ValueError(f"the reference variant {reference!r} has no MAE in the detail "
                         f"metrics (variants: {sorted(detail.get('mae') or {})}); set "
                         "stats.reference to one of them")
    summary = detail.get("summary") or {}
    improvements = detail.get("improvement") or {}
    judges = [v for v in improvements if v != reference]
    order = [reference, *judges, *(v for v in summary if v != reference and v not in judges)]
    headline["mae_mean"] = {variant: summary[variant].get("mae_mean")
                            for variant in order if variant in summary}
    # "ok" says nothing the mean MAEs do not (only a run with judgments has them): after them
    headline["status"] = detail["status"]
    headline["significant"] = {
        variant: sum(bool(row.get("significant")) for row in improvements[variant].values())
        for variant in judges
    }
    headline["improvement"] = {
        variant: {dimension: row.get("value")
                  for dimension, row in improvements[variant].items()}
        for variant in judges
    }
    if robustness:
        headline["robustness"] = dict(robustness)
    return headline


def write_headline(path: str | os.PathLike[str], detail: Mapping[str, Any], *,
                   reference: str, warning: str | None = None,
                   robustness: Mapping[str, Any] | None = None,
                   identity: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Write the headline of ``detail`` to ``path`` as JSON and return it."""
    headline = headline_metrics(detail, reference=reference, warning=warning,
                                robustness=robustness, identity=identity)
    atomic_write_text(path, json.dumps(headline, indent=2) + "\n")
    return headline
