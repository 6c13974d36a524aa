"""An executed notebook's outputs are the same bytes on every run: the kernel's stream
chunks joined, the run's own clock times and this machine's paths replaced."""

import sys

import nbformat
from nbformat.v4 import new_code_cell, new_notebook, new_output

from nbjudge.notebooks.execute import _strip_volatile


def _run(*outputs) -> nbformat.NotebookNode:
    notebook = new_notebook(cells=[new_code_cell("train()", outputs=list(outputs))])
    _strip_volatile(notebook)
    return notebook


def test_stream_chunks_are_joined_however_the_kernel_split_and_interleaved_them():
    figure = new_output("display_data", data={"text/plain": "<Figure>"})
    one = _run(new_output("stream", name="stdout", text="epoch 1\nepoch 2\n"),
               new_output("stream", name="stderr", text="warning\n"),
               new_output("stream", name="stdout", text="done\n"),
               figure,
               new_output("stream", name="stderr", text="late\n"))
    other = _run(new_output("stream", name="stdout", text="epoch 1\n"),
                 new_output("stream", name="stdout", text="epoch 2\ndone\n"),
                 new_output("stream", name="stderr", text="warning\n"),
                 figure,
                 new_output("stream", name="stderr", text="late\n"))
    assert one.cells[0].outputs == other.cells[0].outputs
    assert [(o["output_type"], o.get("name"), o.get("text")) for o in one.cells[0].outputs] == [
        ("stream", "stdout", "epoch 1\nepoch 2\ndone\n"), ("stream", "stderr", "warning\n"),
        ("display_data", None, None), ("stream", "stderr", "late\n")]


def test_log_times_are_replaced_and_data_dates_kept():
    text = ("2026/12/06 13:15:25 INFO mlflow.tracking.fluent: Experiment created\n"
            "2026-12-06 13:15:25,123 - INFO - fitted\n"
            "forecast from 2023-01-15 to 2023-01-28, 2023-01-15 00:00:00 first\n")
    out = _run(new_output("stream", name="stderr", text=text)).cells[0].outputs[0]["text"]
    assert out == ("<time> INFO mlflow.tracking.fluent: Experiment created\n"
                   "<time> - INFO - fitted\n"
                   "forecast from 2023-01-15 to 2023-01-28, 2023-01-15 00:00:00 first\n")


def test_paths_of_this_python_are_replaced():
    out = _run(new_output("stream", name="stdout", text=f"{sys.prefix}/lib/site-packages\n"))
    assert out.cells[0].outputs[0]["text"] == "<python-env>/lib/site-packages\n"
