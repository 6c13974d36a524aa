import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from nbjudge.notebooks.render import RenderOptions, estimate_tokens, render_notebook


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
        new_code_cell("print('after')", id="e"),
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


def test_budget_shrinks_outputs_then_cuts_with_marker():
    nb = executed_notebook("y" * 20000)
    small = render_notebook(nb, RenderOptions(max_tokens=300, max_output_chars=1500,
                                              min_output_chars=200))
    assert estimate_tokens(small) <= 300
    assert "print(big)" in small
    nb.cells.insert(0, new_markdown_cell("z" * 4000, id="big"))
    cut = render_notebook(nb, RenderOptions(max_tokens=300))
    assert estimate_tokens(cut) <= 300
    assert cut.rstrip().endswith("exceeds the judge's token budget ...]")


def test_unexecuted_notebook_has_no_not_run_notes():
    nb = new_notebook(cells=[new_code_cell("x = 1", id="a")])
    assert "not run" not in render_notebook(nb)


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
