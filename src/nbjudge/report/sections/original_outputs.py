"""Which notebooks were judged on outputs nbjudge did not produce.

A notebook's outputs are its own, not this machine's, when ``execute.mode`` kept
it as it came, or when its run here failed for want of something the machine
lacks and ``execute.on_environment_failure: keep_original`` put the outputs it
came with back (:mod:`nbjudge.notebooks.batch`), or when its run stopped at a
time or resource limit and ``execute.keep_original_on_limit`` put them back (a
limit a notebook can reach on purpose: these are named on a line of their own).
Such outputs may have been produced anywhere, or written by hand: the report
names these notebooks.
"""

from __future__ import annotations

from collections import Counter

from ..inputs import ReportInputs
from .cells import plural

__all__ = ["SHOWN", "limit_name", "original_outputs"]

SHOWN = 12   # notebook ids named per line; the rest are counted


def _names(ids: list[str]) -> str:
    ids = sorted(ids)
    shown = ", ".join(ids[:SHOWN])
    return shown + (f" and {len(ids) - SHOWN:,} more" if len(ids) > SHOWN else "")


def limit_name(status: str, limit: str | None) -> str:
    """The limit a run stopped at, in words: ``timeout`` is the per-cell time limit."""
    return "cell timeout" if status == "timeout" else (limit or "a limit").replace("_", " ")


def original_outputs(inputs: ReportInputs) -> tuple[str, ...]:
    """One line per reason, naming the notebooks judged on the outputs they came with;
    empty when the judges read only outputs of this machine's runs."""
    kept_after_failure, kept_after_limit, kept_as_they_came = [], [], []
    limits: Counter[str] = Counter()
    for notebook in inputs.notebooks:
        run = notebook.execution
        if run is None or run.outputs != "original":
            continue
        if run.mode == "keep":
            kept_as_they_came.append(notebook.notebook_id)
        elif run.status in ("timeout", "resource_limit"):
            kept_after_limit.append(notebook.notebook_id)
            limits[limit_name(run.status, run.limit)] += 1
        else:
            kept_after_failure.append(notebook.notebook_id)
    lines = []
    if kept_after_failure:
        one = len(kept_after_failure) == 1
        lines.append(f"{plural(len(kept_after_failure), 'notebook')} failed here for want of "
                     "something this machine lacks (a module, a data file, the network, a "
                     f"kernel) and {'was' if one else 'were'} judged on the outputs "
                     f"{'it' if one else 'they'} came with (execute.on_environment_failure "
                     f"keep_original): {_names(kept_after_failure)}")
    if kept_after_limit:
        one = len(kept_after_limit) == 1
        which = ", ".join(f"{name} {count:,}" for name, count in sorted(limits.items()))
        lines.append(f"{plural(len(kept_after_limit), 'notebook')} stopped here at a limit of "
                     f"this machine ({which}) and {'was' if one else 'were'} judged on the "
                     f"outputs {'it' if one else 'they'} came with, which no run here "
                     "produced: a notebook can reach a limit on purpose after printing "
                     "invented results (execute.keep_original_on_limit true): "
                     f"{_names(kept_after_limit)}")
    if kept_as_they_came:
        they = "it" if len(kept_as_they_came) == 1 else "they"
        lines.append(f"{plural(len(kept_as_they_came), 'notebook')} not run "
                     f"(execute.mode keep), judged as {they} came: {_names(kept_as_they_came)}")
    return tuple(lines)
