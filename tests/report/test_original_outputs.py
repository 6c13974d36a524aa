"""The report names the notebooks judged on outputs nbjudge did not produce."""

import dataclasses

from nbjudge.report.context import build_context
from nbjudge.report.inputs import ReportInputs
from nbjudge.report.render import render_html
from nbjudge.report.sections.original_outputs import SHOWN, original_outputs
from nbjudge.schemas import Execution, Notebook


def notebook(notebook_id: str, **execution) -> Notebook:
    return Notebook(notebook_id=notebook_id, case_id="c", path=f"g/{notebook_id}.ipynb",
                    sha256="0" * 64, origin="import",
                    execution=Execution(path=f"e/{notebook_id}.ipynb", seconds=1.0, **execution))


RAN = notebook("ran", status="ok")
FAILED_HERE = notebook("failed_here", status="error", failure="notebook",
                       error="ValueError: x")
KEPT_AFTER_FAILURE = notebook("kept_after_failure", status="error", failure="environment",
                              outputs="original", error="ModuleNotFoundError: No module "
                              "named 'pyspark'")
KEPT_AS_IT_CAME = notebook("<b>kept</b>", status="not_run", mode="keep", outputs="original")
CAME_EMPTY = notebook("came_empty", status="not_run", mode="keep", outputs="none")


def inputs(*notebooks: Notebook) -> ReportInputs:
    return ReportInputs(params={}, metrics={}, tables={}, labels=(), notebooks=notebooks)


def test_only_notebooks_judged_on_their_own_outputs_are_named():
    assert original_outputs(inputs(RAN, FAILED_HERE, CAME_EMPTY)) == ()
    lines = original_outputs(inputs(RAN, FAILED_HERE, KEPT_AFTER_FAILURE, KEPT_AS_IT_CAME,
                                    CAME_EMPTY))
    assert lines == (
        "1 notebook failed here for want of something this machine lacks (a module, a data "
        "file, the network, a kernel) and was judged on the outputs it came with "
        "(execute.on_environment_failure keep_original): kept_after_failure",
        "1 notebook not run (execute.mode keep), judged as it came: <b>kept</b>")


def test_notebooks_that_kept_their_outputs_at_a_limit_are_named_apart():
    """A limit can be reached on purpose: only execute.keep_original_on_limit puts the
    outputs a notebook came with back then, and the report names them on their own line;
    stopped at a limit and judged on the run, they are not outputs made elsewhere."""
    timed_out = notebook("timed_out", status="timeout", failure="environment",
                         outputs="original", error="a cell ran longer than 5 s")
    hog = notebook("hog", status="resource_limit", limit="total_memory",
                   failure="environment", outputs="original", error="killed")
    judged_run = notebook("judged_run", status="resource_limit", limit="memory",
                          failure="environment", outputs="run", error="MemoryError")
    assert original_outputs(inputs(judged_run)) == ()
    assert original_outputs(inputs(timed_out, hog, judged_run, KEPT_AFTER_FAILURE)) == (
        "1 notebook failed here for want of something this machine lacks (a module, a data "
        "file, the network, a kernel) and was judged on the outputs it came with "
        "(execute.on_environment_failure keep_original): kept_after_failure",
        "2 notebooks stopped here at a limit of this machine (cell timeout 1, total memory 1) "
        "and were judged on the outputs they came with, which no run here produced: a "
        "notebook can reach a limit on purpose after printing invented results "
        "(execute.keep_original_on_limit true): hog, timed_out")
    from nbjudge.report.sections.provenance import _execution

    text = _execution(inputs(timed_out, hog, judged_run, RAN))
    assert ("1 notebook stopped at a limit of this machine (memory 1) and was judged on the "
            "run up to where it stopped, marked there") in text
    assert ("2 notebooks stopped at a limit of this machine and kept the outputs they came "
            "with (execute.keep_original_on_limit true).") in text
    assert "failed here for want of something" not in text


def test_a_long_list_is_cut_and_counted():
    many = [notebook(f"n{i:02d}", status="error", failure="environment", outputs="original")
            for i in range(SHOWN + 3)]
    (line,) = original_outputs(inputs(*many))
    assert line.startswith(f"{SHOWN + 3} notebooks failed here")
    assert "were judged on the outputs they came with" in line
    assert line.endswith(", ".join(f"n{i:02d}" for i in range(SHOWN)) + " and 3 more")


def test_the_report_shows_the_list_escaped(baseline):
    shown = dataclasses.replace(baseline, notebooks=(RAN, KEPT_AFTER_FAILURE, KEPT_AS_IT_CAME))
    html = render_html(build_context(shown, {}))
    assert "<dt>Outputs not made here</dt>" in html
    assert "judged on the outputs it came with" in html and "kept_after_failure" in html
    assert "&lt;b&gt;kept&lt;/b&gt;" in html and "<b>kept</b>" not in html
    plain = dataclasses.replace(baseline, notebooks=(RAN, FAILED_HERE))
    assert "Outputs not made here" not in render_html(build_context(plain, {}))
