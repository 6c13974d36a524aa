import re

import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from nbjudge.notebooks.render import RenderOptions, estimate_tokens, render, render_notebook


def executed_notebook(long_output="x" * 5000):
    cells = [
        new_markdown_cell("# Churn", id="m"),
        new_code_cell("print('hi')", id="a", execution_count=1,
                      outputs=[new_output("stream", name="stdout", text="hi\n")]),
        new_code_cell("df.plot()", id="b", execution_count=2,
                      outputs=[new_output("display_data", data={"image/png": "AAAA"})]),
        new_code_cell("print(big)", id="c", execution_count=3,
                      outputs=[new_output("stream", name="stdout", text=long_output)]),
        new_code_cell("1/0", id="d", execution_count=4, outputs=[new_output(
            "error", ename="ZeroDivisionError", evalue="division by zero",
            traceback=["\x1b[31mZeroDivisionError\x1b[0m: division by zero"])]),
        # Where the run stopped is what execute writes: metadata.nbjudge.not_run
        new_code_cell("print('after')", id="e", metadata={"nbjudge": {"not_run": True}}),
    ]
    return new_notebook(cells=cells)


def test_cells_in_order_with_outputs_markers_and_no_colour_codes():
    text = render_notebook(executed_notebook())
    assert text.index("# Churn") < text.index("print('hi')") < text.index("1/0")
    assert "[image]" in text
    assert "characters of output cut" in text
    assert "ZeroDivisionError: division by zero" in text
    assert "\x1b" not in text
    assert "(not run: the notebook stopped before this cell)" in text


def test_deterministic():
    assert render_notebook(executed_notebook()) == render_notebook(executed_notebook())


def long_notebook(code_cells=160, lines=12, output_lines=40):
    """A notebook of about 40,000 tokens: prose, code, long outputs, an image."""
    cells = [new_markdown_cell("# Credit default\n" + "We study the data carefully. " * 40)]
    for i in range(code_cells):
        cells.append(new_code_cell(
            f"step_{i} = {i}\n" + f"frame['f{i}'] = frame['x'] * {i}  # feature\n" * lines,
            execution_count=i + 1,
            outputs=[new_output("stream", name="stdout", text="value 0.123\n" * output_lines)]))
        if i % 20 == 0:
            cells.append(new_markdown_cell(f"## Part {i}\n" + "Why this step matters. " * 20))
    cells.append(new_code_cell("model.fit(X, y)\nmlflow.log_metric('auc', auc)",
                               execution_count=code_cells + 1,
                               outputs=[new_output("display_data", data={"image/png": "AA"})]))
    return new_notebook(cells=cells)


def test_within_budget_nothing_is_cut():
    rendered = render(long_notebook(code_cells=3), RenderOptions(max_tokens=50_000))
    assert not rendered.cut and rendered.tokens == rendered.full_tokens


def test_step_one_shortens_long_outputs_in_the_middle():
    nb = executed_notebook("y" * 20000)
    assert not render(nb, RenderOptions(max_tokens=1500)).cut  # outputs at 1,500 characters fit
    rendered = render(nb, RenderOptions(max_tokens=400))
    assert rendered.tokens <= 400 and "characters of output cut" in rendered.text
    assert rendered.cuts == ("outputs cut to 750 characters each",)
    assert all(f"[cell {n}:" in rendered.text for n in range(1, 7))  # every cell still there


def test_step_two_turns_outputs_into_markers_and_keeps_every_cell():
    nb = long_notebook(code_cells=30)
    rendered = render(nb, RenderOptions(max_tokens=5000))
    assert rendered.cuts == ("outputs cut to 200 characters each", "outputs")
    assert "output: [1 output(s), 40 line(s) omitted]" in rendered.text
    assert all(f"step_{i} = {i}" in rendered.text for i in range(30))


def test_step_three_keeps_markdown_headings_only():
    nb = long_notebook(code_cells=30)
    rendered = render(nb, RenderOptions(max_tokens=4600))
    assert rendered.cuts[1:] == ("outputs", "markdown prose")
    assert "## Part 20" in rendered.text and "Why this step matters" not in rendered.text
    assert "line(s) of markdown prose omitted" in rendered.text


def test_step_four_drops_code_from_the_middle_with_a_marker_keeping_both_ends():
    nb = long_notebook()
    rendered = render(nb, RenderOptions(max_tokens=6000))
    assert rendered.full_tokens > 40_000 and rendered.tokens <= 6000
    assert rendered.cuts[1:3] == ("outputs", "markdown prose") and len(rendered.cuts) == 4
    assert "step_0 = 0" in rendered.text                      # the first code cell
    assert "model.fit(X, y)" in rendered.text                 # the last code cell
    assert re.search(r"\[\.\.\. cells \d+-\d+ omitted: \d+ code cell\(s\), \d+ markdown "
                     r"cell\(s\), [\d,]+ tokens \.\.\.\]", rendered.text)
    assert rendered.text.rstrip().endswith("output: [1 output(s), 1 line(s) omitted]")


def test_step_five_cuts_a_single_huge_cell_in_its_middle():
    nb = new_notebook(cells=[new_code_cell("a = 1\n" + "b = 2\n" * 5000 + "c = 3")])
    rendered = render(nb, RenderOptions(max_tokens=500))
    assert rendered.tokens <= 500 and "characters of cell text cut" in rendered.text
    assert rendered.cuts[-1] == "cells cut in their middle to 1,997 characters each"
    assert "a = 1" in rendered.text and "c = 3" in rendered.text


def test_unexecuted_notebook_has_no_not_run_notes():
    nb = new_notebook(cells=[new_code_cell("x = 1", id="a")])
    assert "not run" not in render_notebook(nb)


def test_missing_execution_counts_are_no_not_run_notes():
    """A notebook judged as it came (execute.mode keep) whose second cell lacks an execution
    count while later cells carry theirs: nothing says a run stopped, so no cell is "not
    run"; only the run's own mark says so."""
    nb = new_notebook(cells=[
        new_code_cell("import pandas as pd", execution_count=1),
        new_code_cell("df = pd.read_csv('x.csv')"),            # outputs never saved
        new_code_cell("df.shape", execution_count=3,
                      outputs=[new_output("execute_result", data={"text/plain": "(3, 2)"},
                                          execution_count=3)]),
        new_code_cell("df.describe()"),
    ])
    assert "not run" not in render_notebook(nb)
    nb.cells[3].metadata["nbjudge"] = {"not_run": True}
    text = render_notebook(nb)
    assert text.count("(not run: the notebook stopped before this cell)") == 1
    assert text.index("(not run") > text.index("df.describe()")


def test_bad_options():
    with pytest.raises(ValueError, match="max_tokens must be at least 100"):
        RenderOptions(max_tokens=10)
    with pytest.raises(ValueError, match="min_output_chars <= max_output_chars"):
        RenderOptions(max_output_chars=100, min_output_chars=500)


def test_renders_a_generated_notebook(tmp_path):
    from nbjudge.benchmark.procedural import write_notebook
    from nbjudge.benchmark.suites import build_cases

    case = build_cases("data/suites/demo8.yaml", 42, tmp_path)[1]
    text = render_notebook(write_notebook(case, "x__01", 3).notebook)
    assert f'pd.read_csv("{case.tables["train"]}.csv")' in text
    assert estimate_tokens(text) <= RenderOptions().max_tokens


def test_rendering_is_linear_in_the_number_of_cells(monkeypatch):
    """The text is joined a fixed number of times whatever the notebook's length (joining it
    at every step of dropping cells made 40,000 cells take minutes), and the result is the
    marker a shorter notebook gets."""
    from nbjudge.notebooks import render as module

    joins = []
    join = module._join
    monkeypatch.setattr(module, "_join", lambda blocks: joins.append(1) or join(blocks))
    counts = {}
    for cells in (400, 4000):
        joins.clear()
        rendered = render(long_notebook(code_cells=cells, lines=2, output_lines=2))
        counts[cells] = len(joins)
        assert rendered.tokens <= 6000 and "omitted:" in rendered.cuts[-1]
    assert counts[4000] == counts[400] <= 20
