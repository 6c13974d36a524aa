"""From report inputs to the plain values the HTML template shows.

:func:`build_context` decides everything a reader sees: the warnings on the
first line, the verdict per dimension, the provenance of notebooks, labels
and judge, and what each later section holds. Numbers are formatted here,
so the template only lays them out.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import yaml

from nbjudge.schemas import DIMENSIONS
from nbjudge.stats import StatsConfig

from .alignment import SIMILARITY_THRESHOLD, alignment_costs, group_guidelines
from .disagreements import largest_disagreements, notebook_excerpt
from .figures import dimension_label
from .inputs import ReportInputs

__all__ = [
    "QUESTION",
    "ReportSettings",
    "ReportView",
    "build_context",
    "is_smoke",
    "judge_model",
    "report_view",
    "warning_lines",
]

QUESTION = ("Do our LLM judges of ML notebooks agree with human experts, and does aligning "
            "them with human feedback (MLflow's MemAlign) make them agree more?")

_ORIGINS = {
    "procedural": "generated procedurally (runnable code with known quality levels)",
    "llm": "written by an LLM from the task prompt",
    "import": "imported from a folder of notebooks",
}
_EXECUTION = {"ok": "ran to the end", "error": "stopped with an error",
              "timeout": "were stopped at the time limit",
              "resource_limit": "were stopped at a resource limit",
              "not_run": "were not run (execute.mode keep)"}
_OUTPUT_SOURCES = {"run": "from this run",
                   "original": "as the notebooks came (not from this machine)",
                   "none": "none (came without outputs, not run)"}


@dataclass(frozen=True)
class ReportSettings:
    """Choices of the report that are not statistics.

    ``aligned`` is the variant the verdict compares with the reference
    (``full`` when it was judged, else the first other variant);
    ``disagreements`` how many notebook-dimension pairs to list;
    ``guidelines`` how many guideline groups to show per dimension;
    ``excerpt_lines`` how many lines of code each disagreement quotes.
    """

    aligned: str = "full"
    disagreements: int = 10
    guidelines: int = 6
    excerpt_lines: int = 12

    def __post_init__(self) -> None:
        for name in ("disagreements", "guidelines"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0; got {getattr(self, name)}")
        if self.excerpt_lines < 1:
            raise ValueError(f"excerpt_lines must be >= 1; got {self.excerpt_lines}")


@dataclass(frozen=True)
class ReportView:
    """Which variants and dimensions the report shows, and the statistics settings.

    ``aligned`` is None when only the reference (or nothing) was judged.
    ``controls`` are the variants among ``variants`` that are controls (no-skill,
    calibrated): listed last, drawn muted, never the aligned variant.
    """

    stats: Mapping[str, Any]
    reference: str
    aligned: str | None
    variants: tuple[str, ...]
    dimensions: tuple[str, ...]
    controls: tuple[str, ...] = ()

    @property
    def judges(self) -> tuple[str, ...]:
        """The variants that are judges, not controls."""
        return tuple(v for v in self.variants if v not in self.controls)


# --- formatting -------------------------------------------------------------------------


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _fmt(value: Any, digits: int = 2) -> str:
    if _missing(value):
        return "—"
    return f"{float(value):.{digits}f}"


def _fmt_ci(estimate: Any, low: Any, high: Any, digits: int = 2) -> str:
    if _missing(estimate):
        return "—"
    if _missing(low) or _missing(high):
        return _fmt(estimate, digits)
    return f"{_fmt(estimate, digits)} [{_fmt(low, digits)}, {_fmt(high, digits)}]"


def _fmt_p(value: Any) -> str:
    if _missing(value):
        return "—"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def _fmt_share(value: Any) -> str:
    return "—" if _missing(value) else f"{100 * float(value):.0f}%"


def _fmt_int(value: Any) -> str:
    return "—" if _missing(value) else f"{int(value):,}"


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word if count == 1 else word + 's'}"


# --- facts about the run ----------------------------------------------------------------


def _section(params: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = params.get(name)
    return value if isinstance(value, Mapping) else {}


def is_smoke(inputs: ReportInputs) -> bool:
    """The judge is the offline smoke-test model: ``run.json`` says so, else ``llm.smoke``."""
    if inputs.run is not None:
        return inputs.run.smoke
    return bool(_section(inputs.params, "llm").get("smoke", False))


def judge_model(inputs: ReportInputs) -> str | None:
    """The judge's model: ``run.json``, else the judgments' own records, else ``llm.model``."""
    if inputs.run is not None:
        return inputs.run.model
    models = sorted({j.model for j in inputs.judgments})
    if models:
        return ", ".join(models)
    model = _section(inputs.params, "llm").get("model")
    return str(model) if model else None


def _label_sources(inputs: ReportInputs) -> Counter:
    return Counter(label.source for label in inputs.labels)


def warning_lines(inputs: ReportInputs) -> list[str]:
    """What the reader must know before reading a number, most important first."""
    lines = []
    if is_smoke(inputs):
        model = judge_model(inputs) or "a tiny offline model"
        lines.append((inputs.run and inputs.run.banner) or (
            f"SMOKE TEST: scores from a tiny offline model ({model}); they mean nothing "
            "about judge quality."))
    sources = _label_sources(inputs)
    if sources.get("simulated") and not sources.get("human"):
        lines.append("Labels are simulated by an expert panel model, not graded by people.")
    elif sources.get("simulated"):
        lines.append(f"{sources['simulated']:,} of {sum(sources.values()):,} labels are "
                     "simulated by an expert panel model, not graded by people.")
    unsandboxed = _unsandboxed(inputs)
    if unsandboxed:
        ran = sum(1 for n in inputs.notebooks if n.execution)
        lines.append(f"{unsandboxed:,} of {ran:,} notebooks ran UNSANDBOXED "
                     "(execute.sandbox=none): their code could reach the network and this "
                     "machine's files.")
    status = inputs.metrics.get("status")
    if status == "no_judgments":
        lines.append("No judgments yet: this report shows the labels and the human ceiling "
                     "only.")
    for flag in inputs.metrics.get("flags") or []:
        lines.append(flag[0].upper() + flag[1:] + ("" if flag.endswith(".") else "."))
    return lines


def _unsandboxed(inputs: ReportInputs) -> int:
    """How many notebooks ran without a sandbox (``execute.sandbox=none``)."""
    return sum(1 for n in inputs.notebooks if n.execution and n.execution.sandbox == "none")


# --- sections ---------------------------------------------------------------------------


def _stats_settings(params: Mapping[str, Any]) -> dict[str, Any]:
    """The settings the statistics ran with: ``params.yaml``'s ``stats`` over the
    defaults of :class:`~nbjudge.stats.StatsConfig` (the same parse the stage does)."""
    config = StatsConfig.from_mapping(_section(params, "stats"))
    return {
        "reference": config.reference,
        "correction": config.permutation.correction,
        "level": float(config.bootstrap.level),
        "significance": config.significance,
        "n_resamples": config.bootstrap.n_resamples,
        "method": config.bootstrap.method,
        "na_policy": config.na_policy,
        "failure_policy": config.failure_policy,
        "consensus": config.consensus,
        "consensus_na": config.consensus_na,
        "min_notebooks": config.bootstrap.min_notebooks,
        "min_alpha": config.ceiling.min_alpha,
        "target_improvement": config.power.target_improvement,
        "target_power": config.power.target_power,
        "max_notebooks": config.power.max_notebooks,
        "controls": tuple(config.controls),
    }


def _significance_rule(stats: Mapping[str, Any]) -> str:
    """The rule behind "significant", and what error it controls."""
    alpha = 1 - stats["level"]
    correction = stats["correction"]
    controls = ("the family-wise error" if correction == "holm"
                else "the false discovery rate")
    test = (f"{correction}-adjusted sign-flip p < {alpha:.2g}, adjusted over every dimension "
            f"of every comparison (controls {controls} at {alpha:.2g})")
    band = (f"the {100 * stats['level']:.0f}% simultaneous bootstrap band over every dimension "
            f"of every comparison excludes 0 (aims at a family-wise error of {alpha:.2g}; "
            "simulated 0.079 at 50 notebooks, see bench/validate_intervals.py)")
    ci = (f"the {100 * stats['level']:.0f}% per-dimension bootstrap CI excludes 0 "
          "(unadjusted: not corrected for the number of dimensions)")
    return {"ci": ci, "test": test, "simultaneous": band, "both": f"{ci} and {test}"}.get(
        stats["significance"], test)


def _interval_description(metrics: Mapping[str, Any]) -> str:
    """Method, level, resamples, sample size and unit of every interval of the report."""
    intervals = metrics.get("intervals") or {}
    if not intervals:
        return "bootstrap intervals"
    unit = intervals["resampling_unit"]
    text = (f"{100 * intervals['level']:.0f}% {intervals['method']} bootstrap intervals, "
            f"{_fmt_int(intervals['n_resamples'])} resamples of {intervals['sample_size']} "
            f"{unit}s out of {intervals['n_units']}")
    if unit == "case":
        text += (f" (whole cases with all their notebooks: {intervals['n_notebooks']} "
                 f"notebooks in {intervals['n_cases']} cases)")
    if intervals.get("note"):
        text += f"; {intervals['note']}"
    if not intervals.get("shown", True):
        text = (f"too few notebooks for an interval ({intervals['n_notebooks']} notebooks"
                + (f" in {intervals['n_units']} cases" if unit == "case" else "")
                + f"; intervals need {intervals['min_notebooks']}"
                + (f" in {intervals['min_cases']} cases"
                   if intervals["n_cases"] < intervals["n_notebooks"] else "")
                + "): observed ranges of the per-notebook values and exact permutation "
                "p-values instead")
    return text


def _dimensions(inputs: ReportInputs) -> list[str]:
    present = set()
    for name in ("labels", "ceiling", "mae"):
        frame = inputs.tables.get(name)
        if frame is not None and "dimension" in frame:
            present.update(frame["dimension"])
    present.update(label.dimension for label in inputs.labels)
    return [d for d in DIMENSIONS if d in present] + sorted(present - set(DIMENSIONS))


def _variants(inputs: ReportInputs, reference: str, controls: Sequence[str] = ()) -> list[str]:
    mae = inputs.tables.get("mae")
    if mae is None or mae.empty:
        return []
    found = list(dict.fromkeys(mae["variant"]))
    return sorted(found, key=lambda v: (v != reference, v in controls, found.index(v)))


def _aligned_variant(variants: Sequence[str], reference: str, preferred: str,
                     controls: Sequence[str] = ()) -> str | None:
    judges = [v for v in variants if v not in controls]
    if preferred in judges and preferred != reference:
        return preferred
    return next((v for v in judges if v != reference), None)


def _lookup(frame: pd.DataFrame | None, **where) -> Mapping[str, Any] | None:
    if frame is None or frame.empty:
        return None
    mask = pd.Series(True, index=frame.index)
    for column, value in where.items():
        if column not in frame:
            return None
        mask &= frame[column] == value
    rows = frame[mask]
    return None if rows.empty else rows.iloc[0].to_dict()


def _get(row: Mapping[str, Any] | None, key: str) -> Any:
    return None if row is None else row.get(key)


def _mae_cell(row: Mapping[str, Any] | None) -> str:
    """MAE [CI], and its failure rate: the two are never shown apart."""
    text = _fmt_ci(_get(row, "mae"), _get(row, "mae_ci_low"), _get(row, "mae_ci_high"))
    rate = _get(row, "failure_rate")
    if text != "—" and not _missing(rate):
        text += f"; {_fmt_share(rate)} failed" + (" ⚑" if _get(row, "failure_flag") else "")
    return text


def _improvement_cell(change: Mapping[str, Any] | None) -> str:
    value = _get(change, "improvement")
    if change is not None and not _missing(value) and _missing(_get(change, "ci_low")) and \
            not _missing(_get(change, "observed_low")):
        text = (f"{_fmt(value)} (range {_fmt(_get(change, 'observed_low'))} to "
                f"{_fmt(_get(change, 'observed_high'))}; no interval)")
    else:
        text = _fmt_ci(value, _get(change, "ci_low"), _get(change, "ci_high"))
    spread = _get(change, "repeat_sd")
    if not _missing(spread):
        text += f" ± {_fmt(spread)} over CV repeats" + (
            " ⚑" if _get(change, "repeat_spread_flag") else "")
    return text


# The controls each verdict is measured against (the contrasts of conf/stats/default.yaml).
NO_SKILL, CALIBRATION = "majority", "calibrated"


def _control_contrast(improvement: pd.DataFrame | None, judge: str | None, control: str,
                      dimension: str) -> Mapping[str, Any] | None:
    """The contrast ``[judge, control]``: MAE(control) - MAE(judge), > 0 when the judge wins."""
    if judge is None:
        return None
    return _lookup(improvement, kind="contrast", reference=control, variant=judge,
                   dimension=dimension)


def _beats_cell(contrast: Mapping[str, Any] | None) -> str:
    """``yes``/``no, worse``/``no, not significant``, then the contrast with its interval."""
    value = _get(contrast, "improvement")
    if contrast is None or _missing(value):
        return "—"
    significant = bool(_get(contrast, "significant"))
    word = ("yes" if significant and value > 0 else "no, worse" if significant
            else "not shown")
    return f"{word}: {_improvement_cell(contrast)}"


def _verdict(inputs, dimensions, reference, aligned, stats) -> dict[str, Any]:
    mae, improvement = inputs.tables.get("mae"), inputs.tables.get("improvement")
    ceiling, labels = inputs.tables.get("ceiling"), inputs.tables.get("labels")
    p_column = f"p_{stats['correction']}"
    rows, better, worse = [], [], []
    for dimension in dimensions:
        labelled = _lookup(labels, dimension=dimension)
        base = _lookup(mae, variant=reference, dimension=dimension)
        other = _lookup(mae, variant=aligned, dimension=dimension) if aligned else None
        change = (_lookup(improvement, kind="improvement", reference=reference,
                          variant=aligned, dimension=dimension) if aligned else None)
        human = _lookup(ceiling, dimension=dimension)
        significant = bool(_get(change, "significant")) if change else False
        value = _get(change, "improvement")
        if significant and not _missing(value):
            (better if value > 0 else worse).append(dimension_label(dimension))
        if change is None:
            verdict = "—"
        elif significant:
            verdict = "yes, better" if value > 0 else "yes, worse"
        else:
            verdict = "no"
        rows.append({
            "dimension": dimension_label(dimension),
            "reference_mae": _mae_cell(base),
            "aligned_mae": _mae_cell(other),
            "improvement": _improvement_cell(change),
            "p_adjusted": _fmt_p(_get(change, p_column)),
            "significant": verdict,
            "direction": ("better" if significant and value > 0
                          else "worse" if significant else ""),
            "n_notebooks": _fmt_int(_get(change, "n_notebooks") if change
                                    else _get(base, "n_notebooks")),
            "human_mae": _fmt(_get(human, "human_mae")),
            "human_trusted": _get(human, "status") == "ok",
            "n_labelled": _fmt_int(_get(labelled, "n_notebooks")),
            "n_labels": _fmt_int(_get(labelled, "n_labels")),
            "n_na": _fmt_int(_get(labelled, "n_na")),
            "n_multi_rated": _fmt_int(_get(labelled, "n_multi_rated")),
            "beats_no_skill": _beats_cell(_control_contrast(improvement, reference, NO_SKILL,
                                                            dimension)),
            "beats_calibration": _beats_cell(_control_contrast(improvement, aligned,
                                                               CALIBRATION, dimension)),
        })
    status = inputs.metrics.get("status")
    if status == "no_judgments":
        summary = inputs.metrics.get("message") or "No judgments exist yet."
    elif aligned is None:
        summary = (f"Only the {reference} judge has been run: there is no aligned variant "
                   "to compare with it yet, so the table shows its error alone.")
    else:
        n = len(dimensions)
        parts = [f"The aligned judge ({aligned}) agrees with the humans significantly better "
                 f"than the {reference} judge on {len(better)} of {n} dimensions"]
        parts.append(f", significantly worse on {len(worse)}")
        parts.append(f", and no difference was detected on {n - len(better) - len(worse)}.")
        summary = "".join(parts)
        if better:
            summary += f" Better: {', '.join(better)}."
        if worse:
            summary += f" Worse: {', '.join(worse)}."
    summary += _controls_summary(improvement, dimensions, reference, aligned)
    return {"rows": rows, "summary": summary, "rule": _significance_rule(stats),
            "has_no_skill": any(r["beats_no_skill"] != "—" for r in rows),
            "has_calibration": any(r["beats_calibration"] != "—" for r in rows),
            "no_skill": NO_SKILL, "calibration": CALIBRATION,
            "intervals": _interval_description(inputs.metrics),
            "has_judge": mae is not None and not mae.empty, "has_aligned": aligned is not None,
            "reference": reference, "aligned": aligned or "—",
            "correction": stats["correction"], "level": f"{100 * stats['level']:.0f}%"}


def _controls_summary(improvement, dimensions, reference, aligned) -> str:
    """One sentence per control question, counting significantly better dimensions."""
    text = ""
    for judge, control, question in ((reference, NO_SKILL, "no skill"),
                                     (aligned, CALIBRATION, "calibration")):
        found = [_control_contrast(improvement, judge, control, d) for d in dimensions]
        found = [c for c in found if c is not None]
        if not found:
            continue
        wins = sum(bool(c.get("significant")) and (c.get("improvement") or 0) > 0
                   for c in found)
        text += (f" Against {question}: the {judge} judge beats {control} significantly on "
                 f"{wins} of {len(found)} dimensions.")
    return text


def _provenance(inputs: ReportInputs) -> dict[str, Any]:
    facts = {}
    if inputs.notebooks:
        origins = Counter(n.origin for n in inputs.notebooks)
        facts["notebooks"] = (
            f"{_plural(len(inputs.notebooks), 'notebook')}: "
            + "; ".join(f"{count:,} {_ORIGINS.get(origin, origin)}"
                        for origin, count in sorted(origins.items())) + ".")
        runs = Counter(n.execution.status for n in inputs.notebooks if n.execution)
        if runs:
            where = ("Executed unsandboxed (execute.sandbox=none): " if _unsandboxed(inputs)
                     else "Executed in a sandboxed kernel: " if set(runs) - {"not_run"}
                     else "Judged as they came, none re-executed: ")
            facts["execution"] = where + ", ".join(
                f"{count:,} {_EXECUTION.get(status, status)}"
                for status, count in sorted(runs.items())) + "."
            sources = Counter(n.execution.outputs for n in inputs.notebooks if n.execution)
            kept = sum(1 for n in inputs.notebooks if n.execution and n.execution.mode == "run"
                       and n.execution.outputs == "original")
            facts["execution"] += " Outputs the judges read: " + ", ".join(
                f"{count:,} {_OUTPUT_SOURCES.get(source, source)}"
                for source, count in sorted(sources.items())) + "."
            if kept:
                facts["execution"] += (
                    f" {_plural(kept, 'notebook')} failed here for want of something this "
                    "machine lacks and kept the outputs they came with "
                    "(execute.on_environment_failure keep_original).")
        else:
            facts["execution"] = "Not executed: judges saw the notebooks without outputs."
    else:
        count = len({label.notebook_id for label in inputs.labels})
        facts["notebooks"] = (f"{_plural(count, 'notebook')} labelled; no notebook index was "
                              "found, so their origin is unknown.")
    label_facts = inputs.metrics.get("labels") or {}
    sources = _label_sources(inputs)
    if sources.get("human") and not sources.get("simulated"):
        who = "graded by human experts"
    elif sources.get("simulated") and not sources.get("human"):
        who = ("simulated by an expert panel model from the notebooks' known quality "
               "levels, with per-dimension rater noise: not graded by people")
    else:
        who = (f"a mix: {sources.get('human', 0):,} graded by people, "
               f"{sources.get('simulated', 0):,} simulated by an expert panel model")
    facts["labels"] = (
        f"{_plural(int(label_facts.get('n_labels', len(inputs.labels))), 'label')} from "
        f"{_plural(int(label_facts.get('n_raters', 0)), 'rater')} on "
        f"{_plural(int(label_facts.get('n_notebooks', 0)), 'notebook')} "
        f"({int(label_facts.get('n_multi_rated_notebooks', 0)):,} graded by two or more "
        f"raters), {who}.")
    judged = inputs.metrics.get("judgments") or {}
    facts["judgments"] = [
        f"{variant}: {counts.get('n_ok', 0):,} ok, {counts.get('n_failed', 0):,} failed"
        + (f", {counts['n_missing']:,} missing" if counts.get("n_missing") else "")
        + (f", {counts['n_repeats']} repeats" if counts.get("n_repeats", 1) > 1 else "")
        for variant, counts in judged.items()]
    facts["cut"] = _cut_notebooks(inputs)
    return facts


def _cut_notebooks(inputs: ReportInputs) -> list[str]:
    """Per variant, how many notebooks each dimension's judge read shortened to fit the
    model's budget (``Judgment.notebook_cut``); nothing when no judgment was cut."""
    cut: dict[str, dict[str, set[str]]] = {}
    seen: dict[str, set[str]] = {}
    for judgment in inputs.judgments:
        seen.setdefault(judgment.variant, set()).add(judgment.notebook_id)
        if judgment.notebook_cut:
            cut.setdefault(judgment.variant, {}).setdefault(
                judgment.dimension, set()).add(judgment.notebook_id)
    lines = []
    for variant, by_dimension in cut.items():
        counts = {dimension: len(by_dimension.get(dimension, set())) for dimension in DIMENSIONS}
        total = len(seen[variant])
        if len(set(counts.values())) == 1:
            lines.append(f"{variant}: {next(iter(counts.values())):,} of {total:,} notebooks "
                         "in every dimension")
        else:
            lines.append(f"{variant}: " + ", ".join(
                f"{dimension_label(dimension)} {count:,}"
                for dimension, count in counts.items() if count) + f" (of {total:,})")
    return lines


def _judge(inputs: ReportInputs) -> dict[str, Any]:
    llm = _section(inputs.params, "llm")
    smoke = is_smoke(inputs)
    model = judge_model(inputs) or "unknown (no judgments and no llm section in params)"
    note = ("the offline smoke-test model: its scores prove the plumbing, nothing else"
            if smoke else None)
    backend = inputs.run.backend if inputs.run is not None else llm.get("backend")
    return {"model": model, "backend": backend,
            "smoke": smoke, "note": note}


def _agreement(inputs, variants) -> list[dict[str, Any]]:
    frame = inputs.tables.get("agreement")
    if frame is None or frame.empty:
        return []
    tables = []
    for variant in variants:
        rows = []
        for row in frame[frame["variant"] == variant].to_dict("records"):
            rows.append({
                "dimension": dimension_label(row["dimension"]),
                "n_pairs": _fmt_int(row.get("n_pairs")),
                "n_notebooks": _fmt_int(row.get("n_notebooks")),
                "n_failed": _fmt_int(row.get("n_failed")),
                "exact": _fmt_share(row.get("exact_agreement")),
                "kappa": _fmt(row.get("kappa_quadratic")),
                "alpha": _fmt(row.get("alpha_ordinal")),
                "na_agreement": _fmt_share(row.get("na_agreement")),
                "na_precision": _fmt_share(row.get("na_precision")),
                "na_recall": _fmt_share(row.get("na_recall")),
                "failure_rate": _fmt_share(row.get("failure_rate")),
                "bias": _fmt(row.get("bias")),
                "mae": _fmt(row.get("mae")),
            })
        tables.append({"variant": variant, "rows": rows})
    return tables


def _ablation(inputs, dimensions, variants, stats) -> dict[str, Any] | None:
    mae, improvement = inputs.tables.get("mae"), inputs.tables.get("improvement")
    if mae is None or len(variants) < 2:
        return None
    contrasts = [] if improvement is None else list(dict.fromkeys(
        zip(improvement[improvement["kind"] == "contrast"]["variant"],
            improvement[improvement["kind"] == "contrast"]["reference"], strict=True)))
    p_column = f"p_{stats['correction']}"
    rows = []
    for dimension in dimensions:
        row = {"dimension": dimension_label(dimension), "mae": [], "contrasts": []}
        for variant in variants:
            found = _lookup(mae, variant=variant, dimension=dimension)
            row["mae"].append(_fmt_ci(_get(found, "mae"), _get(found, "mae_ci_low"),
                                      _get(found, "mae_ci_high")))
        for candidate, other in contrasts:
            found = _lookup(improvement, kind="contrast", variant=candidate, reference=other,
                            dimension=dimension)
            row["contrasts"].append({
                "value": _fmt_ci(_get(found, "improvement"), _get(found, "ci_low"),
                                 _get(found, "ci_high")),
                "p": _fmt_p(_get(found, p_column)),
                "significant": bool(_get(found, "significant")),
            })
        rows.append(row)
    return {"variants": variants,
            "contrasts": [f"MAE {other} − MAE {candidate}" for candidate, other in contrasts],
            "rows": rows, "skipped": list(inputs.metrics.get("skipped") or [])}


def _ceiling(inputs, dimensions, reference, aligned, stats) -> dict[str, Any]:
    ceiling, improvement = inputs.tables.get("ceiling"), inputs.tables.get("improvement")
    power = inputs.tables.get("power")
    rows = []
    for dimension in dimensions:
        human = _lookup(ceiling, dimension=dimension)
        change = (_lookup(improvement, kind="improvement", reference=reference,
                          variant=aligned, dimension=dimension) if aligned else None)
        test = (_lookup(power, reference=reference, variant=aligned, dimension=dimension)
                if aligned else None)
        status = _get(human, "status")
        needed = _get(test, "notebooks_needed")
        rows.append({
            "dimension": dimension_label(dimension),
            "n_notebooks": _fmt_int(_get(human, "n_notebooks")),
            "human_mae": _fmt(_get(human, "human_mae")),
            "human_alpha": _fmt(_get(human, "human_alpha")),
            "status": {"ok": "ok", "low_agreement": "raters disagree",
                       "insufficient": "too few ratings"}.get(status, status or "—"),
            "trusted": status == "ok",
            "gap_closed": _fmt_share(_get(change, "gap_closed")),
            "power_n": _fmt_int(_get(test, "n_notebooks")),
            "detectable": _fmt(_get(test, "minimal_detectable_improvement")),
            "needed": ("—" if test is None else
                       f"> {_fmt_int(stats['max_notebooks'])}" if _missing(needed)
                       else _fmt_int(needed)),
        })
    return {"rows": rows, "has_power": aligned is not None and power is not None,
            "aligned": aligned, "reference": reference,
            "min_alpha": _fmt(stats["min_alpha"], 3),
            "target_improvement": _fmt(stats["target_improvement"]),
            "target_power": _fmt_share(stats["target_power"])}


def _fold_names(folds: Sequence[tuple[int, int]]) -> str:
    if all(repeat == 0 for repeat, _ in folds):
        return ", ".join(str(fold) for _, fold in folds)
    return ", ".join(f"{fold} of repeat {repeat}" for repeat, fold in folds)


def _guidelines(inputs, dimensions, aligned, settings) -> dict[str, Any] | None:
    if not inputs.alignment:
        return None
    variants = sorted({run.variant for run in inputs.alignment})
    variant = aligned if aligned in variants else variants[0]
    groups = group_guidelines([run for run in inputs.alignment if run.variant == variant])
    sections = []
    for dimension in dimensions + sorted({g.dimension for g in groups} - set(dimensions)):
        found = [g for g in groups if g.dimension == dimension]
        if not found:
            continue
        shown = found[:settings.guidelines]
        sections.append({
            "dimension": dimension_label(dimension),
            "groups": [{"text": g.text, "folds": f"{len(g.folds)} of {g.n_folds}",
                        "fold_list": _fold_names(g.folds),
                        "n_sources": len(g.source_ids), "recurring": len(g.folds) > 1}
                       for g in shown],
            "more": len(found) - len(shown),
        })
    return {"variant": variant, "threshold": SIMILARITY_THRESHOLD, "sections": sections}


def _alignment_summary(inputs) -> list[dict[str, Any]]:
    costs = alignment_costs(inputs.alignment)
    if costs.empty:
        return []
    rows = []
    for variant, group in costs.groupby("variant", sort=True):
        rows.append({
            "variant": variant,
            "folds": _fmt_int(group["fold"].nunique()),
            "runs": _fmt_int(len(group)),
            "guidelines": _fmt(group["n_guidelines"].mean(), 1),
            "episodic": _fmt(group["n_episodic"].mean(), 1),
            "seconds": _fmt(group["seconds"].sum(min_count=1), 0),
            "tokens": _fmt_int(group["tokens"].sum(min_count=1)),
        })
    return rows


def _judging_cost(inputs) -> list[dict[str, Any]]:
    rows = []
    for variant in sorted({j.variant for j in inputs.judgments}):
        records = [j for j in inputs.judgments if j.variant == variant]
        latencies = [j.latency_s for j in records if j.latency_s is not None]
        tokens_in = [j.tokens_in for j in records if j.tokens_in is not None]
        tokens_out = [j.tokens_out for j in records if j.tokens_out is not None]
        failed = [j for j in records if j.status == "failed"]
        errors = Counter((j.error or "unknown").splitlines()[0][:80] for j in failed)
        rows.append({
            "variant": variant,
            "judgments": _fmt_int(len(records)),
            "failed": _fmt_int(len(failed)),
            "errors": "; ".join(f"{error} ({count})" for error, count in errors.most_common(3)),
            "latency": _fmt(sum(latencies) / len(latencies), 1) if latencies else "—",
            "tokens_in": _fmt_int(sum(tokens_in)) if tokens_in else "—",
            "tokens_out": _fmt_int(sum(tokens_out)) if tokens_out else "—",
        })
    return rows


def _money(value: float | None) -> str:
    if value is None:
        return "unknown"
    return "0" if value == 0 else f"{value:.4f}"


def _priced(line: Any, tokens_in: int | None, tokens_out: int | None) -> str:
    if tokens_in is None and tokens_out is None:
        return "—"
    if line.input_price is None or line.output_price is None:
        return "unknown"
    return _money((tokens_in or 0) * line.input_price + (tokens_out or 0) * line.output_price)


def _actual_usage(inputs, stage: str, what: str) -> tuple[int | None, int | None, int | None]:
    """Requests, tokens in and tokens out a stage's records say it used for ``what``
    (the curve's lines say their variant: ``judge requests (full)``)."""
    if stage == "curve":
        what, _, variant = what.partition(" (")
        variant = variant.rstrip(")")
        judgments = [j for j in getattr(inputs, "curve_judgments", ())
                     if j.variant.partition("@")[0] == variant]
        audits = [a for a in getattr(inputs, "curve_alignment", ())
                  if a.variant.partition("@")[0] == variant]
    else:
        variant = "baseline" if stage == "judge" else stage.removeprefix("align@")
        judgments = [j for j in inputs.judgments if j.variant == variant]
        audits = [a for a in inputs.alignment if a.variant == variant]
    if what == "judge requests":
        records = judgments
        tokens_in = [j.tokens_in for j in records if j.tokens_in is not None]
        tokens_out = [j.tokens_out for j in records if j.tokens_out is not None]
        return (len(records), sum(tokens_in) if tokens_in else None,
                sum(tokens_out) if tokens_out else None)
    if what == "distillation":
        counted = [a.tokens for a in audits if a.tokens]
        if not counted:
            return None, None, None
        return (sum(t.get("calls", 0) for t in counted), sum(t.get("prompt", 0) for t in counted),
                sum(t.get("completion", 0) for t in counted))
    return None, None, None


def _planned_cost(inputs) -> list[dict[str, Any]]:
    """Planned (every request, replies at their cap) against what the records say was used."""
    rows = []
    for plan in getattr(inputs, "plans", ()):
        for line in plan.lines:
            planned = (None if line.input_price is None or line.output_price is None else
                       line.prompt_tokens * line.input_price
                       + line.reply_tokens * line.output_price)
            requests, tokens_in, tokens_out = _actual_usage(inputs, plan.stage, line.what)
            rows.append({
                "stage": plan.stage, "what": line.what, "bound": line.bound,
                "planned_requests": _fmt_int(line.requests),
                "to_send": _fmt_int(line.to_send),
                "planned_in": _fmt_int(line.prompt_tokens),
                "planned_out": _fmt_int(line.reply_tokens),
                "planned_cost": _money(planned),
                "requests": _fmt_int(requests),
                "tokens_in": _fmt_int(tokens_in), "tokens_out": _fmt_int(tokens_out),
                "cost": _priced(line, tokens_in, tokens_out),
            })
    return rows


def _score(value: Any) -> str:
    if isinstance(value, float):
        return _fmt(value, 2 if value % 1 else 0)
    return str(value)


def _disagreements(inputs, variants, stats, settings) -> list[dict[str, Any]]:
    found = largest_disagreements(inputs.labels, inputs.judgments, n=settings.disagreements,
                                  na_policy=stats["na_policy"], variants=variants)
    paths = {}
    for notebook in inputs.notebooks:
        relative = notebook.execution.path if notebook.execution else notebook.path
        paths[notebook.notebook_id] = inputs.root / relative
    rows = []
    for item in found:
        excerpt = (notebook_excerpt(paths[item.notebook_id], item.dimension,
                                    max_lines=settings.excerpt_lines)
                   if item.notebook_id in paths else None)
        rows.append({
            "notebook_id": item.notebook_id,
            "dimension": dimension_label(item.dimension),
            "variant": item.variant + (f" (fold {item.fold})" if item.fold is not None else ""),
            "human_score": _score(item.human_score),
            "ratings": [{"rater": r.rater_id, "score": str(r.score), "rationale": r.rationale}
                        for r in item.ratings],
            "judge_score": str(item.judge_score),
            "judge_rationale": item.judge_rationale or "(no rationale)",
            "distance": _fmt(item.distance),
            "excerpt": None if excerpt is None else {
                "cell": excerpt.cell, "text": excerpt.text, "error": excerpt.error},
        })
    return rows


def _limitations(inputs, dimensions, aligned, stats) -> list[str]:
    notes = []
    if is_smoke(inputs):
        notes.append("The judge is the offline smoke-test model. It exists to prove that "
                     "every stage runs; its scores say nothing about how good an LLM judge "
                     "can be. Rerun with a capable model (the `llm` group) before drawing "
                     "conclusions.")
    sources = _label_sources(inputs)
    if sources.get("simulated"):
        notes.append("Simulated labels come from the same blueprint that generated the "
                     "notebooks, plus rater noise. Agreement with them measures agreement "
                     "with the generator's intent, not with people; import expert grades "
                     "(`labels=file`) to answer the question for real.")
    labels = inputs.metrics.get("labels") or {}
    n = int(labels.get("n_notebooks", 0))
    if 0 < n < 100:
        notes.append(f"Only {n} notebooks were labelled: intervals are wide, and small "
                     "improvements cannot be told apart from noise (see the power table).")
    ceiling = inputs.tables.get("ceiling")
    if ceiling is not None and not ceiling.empty:
        low = [dimension_label(d) for d, s in zip(ceiling["dimension"], ceiling["status"],
                                                  strict=True) if s != "ok"]
        if low:
            notes.append(f"Human raters agree too little (Krippendorff's alpha below "
                         f"{_fmt(stats['min_alpha'], 3)}) or too rarely rated the same "
                         f"notebook on: {', '.join(low)}. A judge cannot be expected to "
                         "match a consensus that does not exist there.")
        multi = int(ceiling["n_notebooks"].max()) if "n_notebooks" in ceiling else 0
        notes.append(f"The human ceiling rests on at most {multi} notebooks graded by two "
                     "or more raters.")
    judged = inputs.metrics.get("judgments") or {}
    failed = sum(counts.get("n_failed", 0) for counts in judged.values())
    if failed and stats["failure_policy"] == "worst":
        notes.append(f"{failed:,} judgments failed (listed per variant and dimension in the "
                     "agreement tables, and as a rate next to every MAE). Each counts in the "
                     "MAE as the largest error possible against that human score (intention "
                     "to treat), so a judge cannot look better by failing; they are left out "
                     "of kappa, alpha and exact agreement, and shown in the confusion "
                     "matrices' last column.")
    elif failed:
        notes.append(f"{failed:,} judgments failed (listed per variant and dimension, and as a "
                     "rate next to every MAE). failure_policy=exclude leaves them out of the "
                     "MAE: a judge that fails where it would be wrong looks better for it. "
                     "Each comparison uses the notebooks both variants answered.")
    if inputs.metrics.get("status") == "ok" and aligned is None:
        notes.append("No aligned variant was judged, so alignment is not evaluated.")
    for skipped in inputs.metrics.get("skipped") or []:
        notes.append(f"Skipped: {skipped}.")
    if aligned is not None and not inputs.alignment:
        notes.append("No alignment audit files were found: the distilled guidelines and the "
                     "cost of alignment cannot be shown.")
    if stats["significance"] == "ci":
        notes.append("Significance follows the original study: a per-dimension bootstrap "
                     "interval that excludes 0. That rule is not corrected for testing "
                     f"{len(dimensions)} dimensions (under no true difference it flags at "
                     "least one of nine in about 30% of experiments); the "
                     f"{stats['correction']}-adjusted p-values are shown next to it for that "
                     "reason.")
    if stats["na_policy"] == "zero":
        notes.append("N/A is scored as 0, so calling an applicable dimension N/A (or the "
                     "reverse) counts as a large error.")
    else:
        notes.append("N/A is excluded: every pair where the judge or the humans said N/A is "
                     "dropped from the MAE, so a judge that answers N/A when unsure loses "
                     "nothing there. The N/A precision (of the judge's N/A, the share the "
                     "humans also called N/A) and recall in the agreement tables show what "
                     "the MAE hides.")
    intervals = inputs.metrics.get("intervals") or {}
    if intervals:
        unit = intervals["resampling_unit"]
        notes.append(
            f"Intervals resample {unit}s"
            + (" (whole cases: a case's notebooks share a task, so their errors are "
               "correlated)" if unit == "case" else
               " (every case holds one notebook, or no case is known)")
            + f". They condition on {intervals['conditions_on']}.")
    return notes


def _settings(inputs: ReportInputs, stats: Mapping[str, Any]) -> dict[str, Any]:
    provenance = inputs.provenance
    return {
        "params_yaml": yaml.safe_dump(dict(inputs.params), sort_keys=False,
                                      default_flow_style=False).rstrip(),
        "seed": inputs.params.get("seed", "—"),
        "git_revision": provenance.git_revision or "not available (not a git checkout)",
        "python": provenance.python,
        "packages": sorted(provenance.packages.items()),
        "bootstrap": _interval_description(inputs.metrics),
        "na_policy": stats["na_policy"],
        "failure_policy": stats["failure_policy"],
        "consensus": stats["consensus"],
    }


def report_view(inputs: ReportInputs, settings: ReportSettings | None = None) -> ReportView:
    """The reference and aligned variants, every judged variant and dimension, in order."""
    settings = settings or ReportSettings()
    stats = _stats_settings(inputs.params)
    reference = stats["reference"]
    variants = _variants(inputs, reference, stats["controls"])
    return ReportView(stats=stats, reference=reference,
                      aligned=_aligned_variant(variants, reference, settings.aligned,
                                               stats["controls"]),
                      variants=tuple(variants), dimensions=tuple(_dimensions(inputs)),
                      controls=tuple(v for v in variants if v in stats["controls"]))


def build_context(
    inputs: ReportInputs,
    figures: Mapping[str, str],
    settings: ReportSettings | None = None,
) -> dict[str, Any]:
    """Everything the template shows, as plain strings, lists and dicts.

    ``figures`` maps figure names (``forest``, ``ablation``, ``bias``,
    ``confusion_<variant>``, ``alignment_cost``) to image URIs; figures
    absent from it are left out of the report.
    """
    settings = settings or ReportSettings()
    view = report_view(inputs, settings)
    stats, reference, aligned = view.stats, view.reference, view.aligned
    dimensions, variants = list(view.dimensions), list(view.variants)
    captions = _captions(reference, aligned, stats)
    ablation = _ablation(inputs, dimensions, variants, stats)
    agreement = _agreement(inputs, variants)
    guidelines = _guidelines(inputs, dimensions, aligned, settings)
    alignment = _alignment_summary(inputs)
    disagreements = _disagreements(inputs, list(view.judges), stats, settings)
    contents = [(anchor, text) for anchor, text, shown in (
        ("improvement", "does alignment help", "forest" in figures),
        ("ablation", "ablation", ablation is not None),
        ("curve", "how many labels", "label_efficiency" in figures),
        ("agreement", "agreement details", bool(agreement)),
        ("ceiling", "human ceiling and power", True),
        ("guidelines", "what alignment learned", bool(guidelines or alignment)),
        ("disagreements", "largest disagreements", bool(disagreements)),
        ("settings", "settings", True),
        ("limitations", "limitations", True),
    ) if shown]
    return {
        "title": "Can we trust our LLM judges of ML notebooks?",
        "warnings": warning_lines(inputs),
        "question": QUESTION,
        "status": inputs.metrics.get("status", "ok"),
        "judge": _judge(inputs),
        "verdict": _verdict(inputs, dimensions, reference, aligned, stats),
        "provenance": _provenance(inputs),
        "figures": {name: {"uri": uri, "caption": _caption(captions, name),
                           "alt": _caption(captions, name).split(".")[0]}
                    for name, uri in figures.items()},
        "confusion": [name for name in figures if name.startswith("confusion_")],
        "variants": variants,
        "contents": contents,
        "ablation": ablation,
        "agreement": agreement,
        "judging_cost": _judging_cost(inputs),
        "planned_cost": _planned_cost(inputs),
        "ceiling": _ceiling(inputs, dimensions, reference, aligned, stats),
        "guidelines": guidelines,
        "alignment": alignment,
        "disagreements": disagreements,
        "settings": _settings(inputs, stats),
        "limitations": _limitations(inputs, dimensions, aligned, stats),
    }


def _captions(reference: str, aligned: str | None, stats: Mapping[str, Any]) -> dict[str, str]:
    level = f"{100 * stats['level']:.0f}%"
    return {
        "forest": (f"Judge error per dimension. Left: MAE of the {reference} and {aligned} "
                   f"judges against the human consensus, with {level} paired cluster "
                   "bootstrap intervals (dotted: the observed range where there were too few "
                   "units for an interval); in light gray, where they ran, the majority and "
                   "calibrated controls (no LLM), for scale. Right: the improvement (MAE "
                   f"{reference} − MAE {aligned}); filled when significant "
                   f"({_significance_rule(stats)}); right margin: {stats['correction']}-"
                   "adjusted sign-flip p-value, starred below "
                   f"{1 - stats['level']:.2g}."),
        "ablation": (f"Ablation: MAE of every judged variant with {level} intervals, side by "
                     "side per dimension; the controls (no-skill and calibrated, no LLM) in "
                     "light gray."),
        "bias": ("Left: positivity bias (mean judge score minus human score; above 0 the "
                 "judge is more lenient). Right: each variant's MAE, and the human ceiling "
                 "(MAE between two human raters of the same notebook) as a bar, thin and "
                 "gray where the raters agree too little to be trusted."),
        "ceiling": ("The human ceiling: MAE between two human raters of the same notebook, "
                    "per dimension; thin and gray where the raters agree too little."),
        "label_efficiency": (f"Label efficiency: MAE against the labelled training notebooks "
                             "per fold, when each fold's judges learn from a nested, seeded "
                             "share of every training fold (curve.fractions); bands: the "
                             f"stats stage's {level} bootstrap interval where it gives one; "
                             "calibrated (no LLM) dashed, in light gray."),
        "alignment_cost": ("Cost of alignment: seconds (and tokens where recorded) spent "
                           "building each fold's memory, per dimension."),
        "confusion": ("Judge score (columns, failed judgments last) against the human "
                      "consensus rounded to a score (rows), per dimension; the diagonal, "
                      "outlined, is exact agreement."),
    }


def _caption(captions: Mapping[str, str], name: str) -> str:
    if name.startswith("confusion_"):
        return f"Confusion matrices of the {name.removeprefix('confusion_')} judge. " + (
            captions["confusion"])
    return captions.get(name, dimension_label(name))
