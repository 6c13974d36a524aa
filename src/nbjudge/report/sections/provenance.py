"""Where the numbers come from: the judge model, the notebooks, the labels, the judgments."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from nbjudge.schemas import DIMENSIONS

from ..figures import dimension_label
from ..inputs import ReportInputs
from ..view import is_smoke, judge_model, label_sources, params_section, unsandboxed
from .cells import plural
from .original_outputs import limit_name

__all__ = ["JudgeFacts", "Provenance", "judge_facts", "provenance"]

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
class JudgeFacts:
    """The judge's model and backend; ``note`` says when it is the smoke-test model."""

    model: str
    backend: str | None
    smoke: bool
    note: str | None


@dataclass(frozen=True)
class Provenance:
    """One sentence per input, and one line per variant of judgments and of cut notebooks."""

    notebooks: str
    labels: str
    judgments: tuple[str, ...]
    cut: tuple[str, ...]
    execution: str | None = None   # None without a notebook index


def judge_facts(inputs: ReportInputs) -> JudgeFacts:
    smoke = is_smoke(inputs)
    backend = (inputs.run.backend if inputs.run is not None
               else params_section(inputs.params, "llm").get("backend"))
    return JudgeFacts(
        model=judge_model(inputs) or "unknown (no judgments and no llm section in params)",
        backend=backend, smoke=smoke,
        note=("the offline smoke-test model: its scores prove the plumbing, nothing else"
              if smoke else None))


def _execution(inputs: ReportInputs) -> str:
    runs = Counter(n.execution.status for n in inputs.notebooks if n.execution)
    if not runs:
        return "Not executed: judges saw the notebooks without outputs."
    where = ("Executed unsandboxed (execute.sandbox=none): " if unsandboxed(inputs)
             else "Executed in a sandboxed kernel: " if set(runs) - {"not_run"}
             else "Judged as they came, none re-executed: ")
    text = where + ", ".join(
        f"{count:,} {_EXECUTION.get(status, status)}"
        for status, count in sorted(runs.items())) + "."
    sources = Counter(n.execution.outputs for n in inputs.notebooks if n.execution)
    ran = [n.execution for n in inputs.notebooks if n.execution and n.execution.mode == "run"]
    stopped = [run for run in ran if run.status in ("timeout", "resource_limit")]
    kept = sum(1 for run in ran if run.outputs == "original" and run not in stopped)
    kept_at_limit = sum(1 for run in stopped if run.outputs == "original")
    cut = Counter(limit_name(run.status, run.limit) for run in stopped if run.outputs == "run")
    text += " Outputs the judges read: " + ", ".join(
        f"{count:,} {_OUTPUT_SOURCES.get(source, source)}"
        for source, count in sorted(sources.items())) + "."
    if kept:
        text += (f" {plural(kept, 'notebook')} failed here for want of something this "
                 "machine lacks and kept the outputs they came with "
                 "(execute.on_environment_failure keep_original).")
    if cut:
        one = sum(cut.values()) == 1
        text += (f" {plural(sum(cut.values()), 'notebook')} stopped at a limit of this machine ("
                 + ", ".join(f"{name} {count:,}" for name, count in sorted(cut.items()))
                 + f") and {'was' if one else 'were'} judged on the run up to where "
                 f"{'it' if one else 'they'} stopped, marked there, not on outputs "
                 f"{'it' if one else 'they'} came with (execute.keep_original_on_limit false).")
    if kept_at_limit:
        text += (f" {plural(kept_at_limit, 'notebook')} stopped at a limit of this machine and "
                 "kept the outputs they came with (execute.keep_original_on_limit true).")
    return text


def _labels(inputs: ReportInputs) -> str:
    label_facts = inputs.metrics.get("labels") or {}
    sources = label_sources(inputs)
    if sources.get("human") and not sources.get("simulated"):
        who = "graded by human experts"
    elif sources.get("simulated") and not sources.get("human"):
        who = ("simulated by an expert panel model from the notebooks' known quality "
               "levels, with per-dimension rater noise: not graded by people")
    else:
        who = (f"a mix: {sources.get('human', 0):,} graded by people, "
               f"{sources.get('simulated', 0):,} simulated by an expert panel model")
    return (
        f"{plural(int(label_facts.get('n_labels', len(inputs.labels))), 'label')} from "
        f"{plural(int(label_facts.get('n_raters', 0)), 'rater')} on "
        f"{plural(int(label_facts.get('n_notebooks', 0)), 'notebook')} "
        f"({int(label_facts.get('n_multi_rated_notebooks', 0)):,} graded by two or more "
        f"raters), {who}.")


def _cut_notebooks(inputs: ReportInputs) -> tuple[str, ...]:
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
    return tuple(lines)


def provenance(inputs: ReportInputs) -> Provenance:
    """The facts listed under the verdict."""
    execution = None
    if inputs.notebooks:
        origins = Counter(n.origin for n in inputs.notebooks)
        notebooks = (
            f"{plural(len(inputs.notebooks), 'notebook')}: "
            + "; ".join(f"{count:,} {_ORIGINS.get(origin, origin)}"
                        for origin, count in sorted(origins.items())) + ".")
        execution = _execution(inputs)
    else:
        count = len({label.notebook_id for label in inputs.labels})
        notebooks = (f"{plural(count, 'notebook')} labelled; no notebook index was "
                     "found, so their origin is unknown.")
    judged = inputs.metrics.get("judgments") or {}
    judgments = tuple(
        f"{variant}: {counts.get('n_ok', 0):,} ok, {counts.get('n_failed', 0):,} failed"
        + (f", {counts['n_missing']:,} missing" if counts.get("n_missing") else "")
        + (f", {counts['n_repeats']} repeats" if counts.get("n_repeats", 1) > 1 else "")
        for variant, counts in judged.items())
    return Provenance(notebooks=notebooks, labels=_labels(inputs), judgments=judgments,
                      cut=_cut_notebooks(inputs), execution=execution)
