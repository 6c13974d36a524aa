"""What the judge reads of notebooks as people write and run them: a corpus of cases the
tests write themselves (escape forms, progress bars, log lines with clock times, ids,
temporary paths, tiny budgets, missing execution counts), each checked on the rendered
text."""

from __future__ import annotations

import re

import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from nbjudge.notebooks.render import RenderOptions, clean_output, render, render_notebook


def stream(text: str, name: str = "stdout"):
    return new_output("stream", name=name, text=text)


def one_cell(*outputs) -> str:
    return render_notebook(new_notebook(cells=[new_code_cell("run()", execution_count=1,
                                                             outputs=list(outputs))]))


# -- escape forms ------------------------------------------------------------------------------
ESCAPES = [
    ("colour", "\x1b[1;31mError\x1b[0m: bad", "Error: bad"),
    ("cursor shown again (private mode)", "done\x1b[?25h", "done"),
    ("cursor hidden, line erased", "\x1b[?25l\x1b[2Kloading\x1b[K", "loading"),
    ("256 colours", "\x1b[38;5;208morange\x1b[39m", "orange"),
    ("window title (OSC, BEL)", "\x1b]0;my title\x07text", "text"),
    ("hyperlink (OSC 8, ST)", "\x1b]8;;https://x.org\x1b\\link\x1b]8;;\x1b\\", "link"),
    ("charset switch", "\x1b(Bplain\x1b)0", "plain"),
    ("8-bit CSI", "\x9b31mred\x9b0m", "red"),
    ("bell and lone ESC", "ding\x07 \x1b", "ding "),
    ("carriage return overwrites", "downloading 10%\rdownloading 100%", "downloading 100%"),
    ("shorter rewrite keeps the tail", "abcdef\rXY", "XYcdef"),
    ("backspaces", "spinner -\b\\\b|\b/\bdone", "spinner done"),
    ("CRLF is a newline", "a\r\nb", "a\nb"),
]


@pytest.mark.parametrize(("raw", "shown"), [(r, s) for _, r, s in ESCAPES],
                         ids=[name for name, _, _ in ESCAPES])
def test_escape_forms_are_shown_as_a_terminal_shows_them(raw, shown):
    assert clean_output(raw) == shown
    text = one_cell(stream(raw))
    assert shown.rstrip() in text
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f]", text)


def test_a_carriage_return_overwrites_across_stream_chunks():
    text = one_cell(stream("epoch 1 loss 0.9"), stream("\repoch 2 loss 0.5\n"))
    assert "epoch 2 loss 0.5" in text and "epoch 1" not in text


def test_tracebacks_lose_their_colours():
    text = render_notebook(new_notebook(cells=[new_code_cell("1/0", execution_count=1, outputs=[
        new_output("error", ename="ZeroDivisionError", evalue="division by zero", traceback=[
            "\x1b[0;31m---------\x1b[0m", "\x1b[0;31mZeroDivisionError\x1b[0m: division by zero"])
    ])]))
    assert "ZeroDivisionError: division by zero" in text and "\x1b" not in text


# -- progress bars ------------------------------------------------------------------------------
def test_a_tqdm_bar_keeps_its_final_state():
    raw = "".join(f"\rtrain: {p:3d}%|{'#' * (p // 10):<10}| {p}/100 "
                  f"[00:0{p // 50}<00:0{2 - p // 50}, {40 + p * 0.37:.2f}it/s]"
                  for p in range(0, 101, 5)) + "\n"
    shown = clean_output(raw)
    assert shown == "train: 100%|##########| 100/100 [<time>]\n"


def test_a_bar_written_line_by_line_collapses_to_its_last_line():
    raw = "".join(f"eval: {p}%|{'#' * (p // 10)}| {p}/100\n" for p in (10, 50, 100))
    assert clean_output(raw) == "eval: 100%|##########| 100/100\n"


def test_separate_bars_stay_separate():
    raw = "fold 1: 100%|##########| 5/5\nfold 2: 100%|##########| 5/5\n"
    assert clean_output(raw) == raw


def test_keras_epochs_keep_each_epochs_final_line_without_timings():
    raw = ("Epoch 1/2\n"
           "1/4 [======>.......................] - ETA: 3s - loss: 0.7000\r"
           "4/4 [==============================] - 1s 12ms/step - loss: 0.6000\n"
           "Epoch 2/2\n"
           "4/4 [==============================] - 0s 3ms/step - loss: 0.5000\n")
    assert clean_output(raw) == (
        "Epoch 1/2\n4/4 [==============================] - <duration> <duration>/step - "
        "loss: 0.6000\nEpoch 2/2\n4/4 [==============================] - <duration> "
        "<duration>/step - loss: 0.5000\n")


def test_pip_progress_lines_keep_what_was_installed():
    raw = ("Collecting lightgbm\n  Downloading lightgbm-4.3.0-py3-none-any.whl (3.6 MB)\n"
           "     ━━━━━━━━━━━━━━╸━━━━━━━━━━━━━━━━━━━━━━━━━ 1.3/3.6 MB 12.1 MB/s eta 0:00:01\r"
           "     ━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━ 3.6/3.6 MB 20.4 MB/s eta 0:00:00\n"
           "Collecting joblib\n  Downloading joblib-1.0.0.tar.gz (1.2 MB)\n"   # pip before 21
           "     |█████████████                   | 0.5 MB 8.0 MB/s eta 0:00:01\r"
           "     |████████████████████████████████| 1.2 MB 20.4 MB/s \n"
           "Successfully installed lightgbm-4.3.0\n")
    shown = clean_output(raw)
    assert "1.3/3.6" not in shown and "MB/s" not in shown and "0:00" not in shown
    assert "3.6/3.6 MB <rate> eta <time>" in shown
    assert "| 1.2 MB <rate>" in shown and "0.5 MB" not in shown
    assert "Downloading lightgbm-4.3.0-py3-none-any.whl (3.6 MB)" in shown
    assert shown.endswith("Successfully installed lightgbm-4.3.0\n")


# -- text that differs on every run --------------------------------------------------------------
VOLATILE = [
    ("MLflow log line", "2024/05/01 12:00:00 INFO mlflow.tracking.fluent: Experiment created",
     "<time> INFO mlflow.tracking.fluent: Experiment created"),
    ("logging module", "2024-05-01 12:00:00,123 - INFO - fitted", "<time> - INFO - fitted"),
    ("bracketed log time", "[2024-05-01 12:00:00] WARNING slow", "[<time>] WARNING slow"),
    ("ISO date-time", "started 2024-05-01T12:00:00.123456+00:00", "started <time>"),
    ("datetime.now()", "now 2024-05-01 12:00:00.123456", "now <time>"),
    ("time.ctime()", "at Wed May  1 12:00:00 2024", "at <time>"),
    ("epoch time by name", "creation_time=1714560000000", "creation_time=<time>"),
    ("MLflow run id", "run_id: 0f1e2d3c4b5a69788796a5b4c3d2e1f0", "run_id: <id>"),
    ("trace id", "tr-9a8b7c6d5e4f30211203f4e5d6c7b8a9", "tr-<id>"),
    ("UUID", "job 123e4567-e89b-12d3-a456-426614174000", "job <id>"),
    ("experiment id", "experiment_id='412233445566778899'", "experiment_id='<id>'"),
    ("MLflow's run link",
     "🏃 View run bouncy-owl-42 at: http://127.0.0.1:5000/#/experiments/1/runs/"
     "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
     "🏃 View run <run name> at: http://127.0.0.1:5000/#/experiments/<id>/runs/<id>"),
    ("temporary folder", "saved /tmp/tmpk3j_x9a1/model.pkl", "saved /tmp/<tmp>/model.pkl"),
    ("macOS temporary folder", "/var/folders/x1/abc_d/T/tmpzz/model.pkl", "/tmp/<tmp>/model.pkl"),
    ("kernel's cell file", 'File /tmp/ipykernel_48213/3170.py:2', "File /tmp/<tmp>/3170.py:2"),
    ("tempfile name", "wrote <workdir>/tmpa8_3kq0z.csv", "wrote <workdir>/tmp<tmp>.csv"),
    ("took", "training took 12.34s", "training took <duration>"),
    ("in seconds", "fitted in 0.5 seconds", "fitted in <duration>"),
    ("%%time", "CPU times: user 1.2 s, sys: 3 ms, total: 1.2 s\nWall time: 1.5 s",
     "CPU times: user <duration>, sys: <duration>, total: <duration>\nWall time: <duration>"),
    ("%timeit", "5.2 ms ± 123 µs per loop (mean ± std. dev. of 7 runs, 100 loops each)",
     "<duration> ± <duration> per loop (mean ± std. dev. of 7 runs, 100 loops each)"),
    ("joblib", "[Parallel(n_jobs=2)]: Done 10 out of 10 | elapsed: 1.2s finished",
     "[Parallel(n_jobs=2)]: Done 10 out of 10 | elapsed: <duration> finished"),
    ("memory address", "<__main__.Model object at 0x7f3a2c1d5e50>",
     "<__main__.Model object at 0x<addr>>"),
]


@pytest.mark.parametrize(("raw", "shown"), [(r, s) for _, r, s in VOLATILE],
                         ids=[name for name, _, _ in VOLATILE])
def test_text_that_differs_on_every_run_becomes_a_placeholder(raw, shown):
    assert clean_output(raw) == shown


DATA = [
    "forecast from 2023-01-15 to 2023-01-28",
    "2019-01-01 00:00:00    412.3\n2019-01-01 01:00:00    398.1",   # an hourly series' head
    "accuracy 0.9312, 12 steps, max_iter=100, in 2 seasons",
    "shape (891, 12); PassengerId 0x1 int64",
    "Epoch 3/10",
    "md5 of the file: 5d41402abc4b2a76",                                # 16 hex digits
]


@pytest.mark.parametrize("raw", DATA)
def test_data_is_left_alone(raw):
    assert clean_output(raw) == raw


def test_two_runs_that_differ_only_in_volatile_text_render_the_same():
    def run(stamp: str, run_id: str, tmp: str, seconds: str, rate: str):
        return new_notebook(cells=[
            new_markdown_cell("# Churn"),
            new_code_cell("train()", execution_count=1, outputs=[
                stream(f"{stamp} INFO mlflow.tracking.fluent: run {run_id}\n"
                       f"saved to /tmp/{tmp}/model.pkl\ntook {seconds}s\n"),
                stream(f"\r 50%|#####     | 1/2 [00:00<00:00, {rate}it/s]"
                       f"\r100%|##########| 2/2 [00:01<00:00, {rate}it/s]\n", "stderr"),
                new_output("execute_result", execution_count=1,
                           data={"text/plain": f"<Model at 0x7f{run_id[:10]}>"})])])

    one = render_notebook(run("2024/05/01 12:00:00", "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
                              "tmpk3j_x9a1", "1.23", "12.5"))
    other = render_notebook(run("2026/12/06 09:41:07", "9a8b7c6d5e4f30211203f4e5d6c7b8a9",
                                "tmp0qq81_zz", "10.07", "3.1"))
    assert one == other


# -- not run ----------------------------------------------------------------------------------
def kept_notebook():
    """As saved by a person: counts on some cells, none on others, no nbjudge marks."""
    return new_notebook(cells=[
        new_markdown_cell("# Titanic"),
        new_code_cell("import pandas as pd", execution_count=1),
        new_code_cell("df = pd.read_csv('train.csv')"),           # saved without its count
        new_code_cell("df.head()", execution_count=7, outputs=[
            new_output("execute_result", execution_count=7, data={"text/plain": "  Name"})]),
        new_code_cell("model.fit(X, y)"),
    ])


def test_a_kept_notebook_without_execution_counts_has_no_not_run_markers():
    assert "not run" not in render_notebook(kept_notebook())


def test_a_run_that_stopped_marks_the_cells_after_it():
    nb = kept_notebook()
    nb.cells[4].metadata["nbjudge"] = {"not_run": True}     # what execute writes
    text = render_notebook(nb)
    assert text.count("(not run: the notebook stopped before this cell)") == 1
    assert text.rstrip().endswith("(not run: the notebook stopped before this cell)")


# -- budgets ------------------------------------------------------------------------------------
def shapes():
    """Notebooks whose first or last code cell is long, or buried in markdown."""
    big = "x = 1\n" + "y = compute(x)  # a long line of feature code\n" * 300
    yield "long last cell", new_notebook(cells=[
        new_markdown_cell("# Task\n" + "Context. " * 200),
        new_code_cell("import pandas as pd"),
        *[new_code_cell(f"step_{i}()\n" * 20) for i in range(40)],
        new_code_cell("model.fit(X, y)\n" + big + "mlflow.log_metric('auc', auc)")])
    yield "long first cell", new_notebook(cells=[
        new_code_cell("import numpy as np\n" + big + "print('loaded')"),
        *[new_code_cell(f"step_{i}()\n" * 20) for i in range(40)],
        new_code_cell("mlflow.log_metric('auc', auc)")])
    yield "two code cells", new_notebook(cells=[
        new_code_cell("import numpy as np\n" + big + "print('loaded')"),
        *[new_markdown_cell(f"## Part {i}\n" + "Prose. " * 50) for i in range(30)],
        new_code_cell("model.fit(X, y)\n" + big + "mlflow.log_metric('auc', auc)")])
    yield "one cell script", new_notebook(cells=[
        new_code_cell("import numpy as np\n" + big + "mlflow.log_metric('auc', auc)")])
    yield "markdown after the end", new_notebook(cells=[
        new_code_cell("import pandas as pd"),
        *[new_code_cell(f"step_{i}()\n" * 20) for i in range(10)],
        new_code_cell("mlflow.log_metric('auc', auc)"),
        *[new_markdown_cell(f"## Conclusion {i}\n" + "We found. " * 40) for i in range(200)]])


SHAPES = list(shapes())


@pytest.mark.parametrize("budget", [100, 150, 250, 400, 700, 1000, 2000, 6000])
@pytest.mark.parametrize(("name", "nb"), SHAPES, ids=[n for n, _ in SHAPES])
def test_first_and_last_code_cells_stay_at_every_budget(name, nb, budget):
    rendered = render(nb, RenderOptions(max_tokens=budget))
    assert rendered.tokens <= budget
    code = [n for n, c in enumerate(nb.cells, start=1) if c.cell_type == "code"]
    first, last = nb.cells[code[0] - 1].source, nb.cells[code[-1] - 1].source
    text = rendered.text
    for number, source in ((code[0], first), (code[-1], last)):
        assert f"[cell {number}: code]" in text, (name, budget, number)
        assert source.splitlines()[0] in text, (name, budget, number)     # its start
        if budget >= 250:
            assert source.splitlines()[-1] in text, (name, budget, number)  # its end
    if budget >= 250:
        assert text.index(first.splitlines()[0]) < text.index(last.splitlines()[-1])
