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
        "file, the network, a limit) and was judged on the outputs it came with "
        "(execute.on_environment_failure keep_original): kept_after_failure",
        "1 notebook not run (execute.mode keep), judged as it came: <b>kept</b>")


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
