"""Which notebooks were judged on outputs nbjudge did not produce.

A notebook's outputs are its own, not this machine's, when ``execute.mode`` kept
it as it came, or when its run here failed for want of something the machine
lacks and ``execute.on_environment_failure: keep_original`` put the outputs it
came with back (:mod:`nbjudge.notebooks.batch`). Such outputs may have been
produced anywhere, or written by hand: the report names these notebooks.
"""

from __future__ import annotations

from ..inputs import ReportInputs
from .cells import plural

__all__ = ["SHOWN", "original_outputs"]

SHOWN = 12   # notebook ids named per line; the rest are counted


def _names(ids: list[str]) -> str:
    ids = sorted(ids)
    shown = ", ".join(ids[:SHOWN])
    return shown + (f" and {len(ids) - SHOWN:,} more" if len(ids) > SHOWN else "")


def original_outputs(inputs: ReportInputs) -> tuple[str, ...]:
    """One line per reason, naming the notebooks judged on the outputs they came with;
    empty when the judges read only outputs of this machine's runs."""
    kept_after_failure, kept_as_they_came = [], []
    for notebook in inputs.notebooks:
        run = notebook.execution
        if run is None or run.outputs != "original":
            continue
        if run.mode == "keep":
            kept_as_they_came.append(notebook.notebook_id)
        else:
            kept_after_failure.append(notebook.notebook_id)
    lines = []
    if kept_after_failure:
        one = len(kept_after_failure) == 1
        lines.append(f"{plural(len(kept_after_failure), 'notebook')} failed here for want of "
                     "something this machine lacks (a module, a data file, the network, a "
                     f"limit) and {'was' if one else 'were'} judged on the outputs "
                     f"{'it' if one else 'they'} came with (execute.on_environment_failure "
                     f"keep_original): {_names(kept_after_failure)}")
    if kept_as_they_came:
        they = "it" if len(kept_as_they_came) == 1 else "they"
        lines.append(f"{plural(len(kept_as_they_came), 'notebook')} not run "
                     f"(execute.mode keep), judged as {they} came: {_names(kept_as_they_came)}")
    return tuple(lines)
