"""Re-executing an unchanged notebook gives the judge the same text and the same cache keys.

The notebook prints what differs on every run (a log line's clock time, a run id, a
temporary path, a duration, an object's address, a progress bar with its rates) and
runs twice through the real execution path (the sandbox, a fresh kernel each time). If
any of it reached the judge's text, every judgment of a re-executed notebook would be
asked and paid for again.
"""

from __future__ import annotations

import sys

import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from nbjudge.judges.dimension import judge_instructions, notebook_outputs
from nbjudge.judges.requests import DimensionJudge, NotebookView, build_requests
from nbjudge.notebooks.execute import SandboxError, SandboxSettings, check_sandbox, execute_notebook
from nbjudge.notebooks.render import RenderOptions, render
from nbjudge.rubrics import load_rubric
from nbjudge.schemas import DIMENSIONS

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(sys.platform != "linux", reason="bubblewrap is Linux only")]

NOISY = '''\
import datetime, logging, sys, tempfile, time, uuid
from tqdm import tqdm

started = time.perf_counter()
logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                    datefmt="%Y/%m/%d %H:%M:%S", level=logging.INFO, stream=sys.stderr,
                    force=True)
run_id = uuid.uuid4().hex
logging.getLogger("mlflow.tracking.fluent").info(f"Started run {run_id}")
print("run id:", run_id)
print("started at", datetime.datetime.now().isoformat())
print("now", datetime.datetime.now())
folder = tempfile.mkdtemp()
print("model saved to", folder + "/model.pkl")
print("scratch file", tempfile.NamedTemporaryFile(dir=".", suffix=".csv").name)
for _ in tqdm(range(30), file=sys.stderr, mininterval=0, desc="training"):
    time.sleep(0.01 + 0.02 * (uuid.uuid4().int % 2))
print(f"took {time.perf_counter() - started:.4f}s")
print(object())
'''


def notebook():
    return new_notebook(cells=[
        new_markdown_cell("# Churn\nTrain a model and log it."),
        new_code_cell(NOISY),
        new_code_cell("accuracy = 0.9312\nprint('accuracy', accuracy)"),
    ])


def keys(text: str) -> list[str]:
    judges = {d: DimensionJudge(d, judge_instructions(load_rubric(d))) for d in DIMENSIONS}
    view = NotebookView("nb01", "churn", "Predict churn.", notebook_outputs("Predict churn.", text))
    requests = build_requests([view], judges, variant="baseline", model="openai:/gpt-4o-mini",
                              inference_params={"temperature": 0.0})
    return [r.key for r in requests]


def test_executing_twice_gives_the_same_judge_text_and_cache_keys():
    settings = SandboxSettings()
    try:
        check_sandbox(settings)
    except SandboxError as error:
        pytest.skip(f"no sandbox on this machine: {error}")
    runs = [execute_notebook(notebook(), None, timeout=120, sandbox=settings) for _ in range(2)]
    for run in runs:
        assert run.status == "ok", run.error
    raw = ["".join(str(o.get("text", "")) for o in run.notebook.cells[1].outputs)
           for run in runs]
    assert raw[0] != raw[1]          # the runs did differ: ids, times, paths, rates
    texts = [render(run.notebook, RenderOptions(max_tokens=6000)).text for run in runs]
    assert texts[0] == texts[1], "\n---\n".join(texts)
    assert keys(texts[0]) == keys(texts[1])
    text = texts[0]
    assert "<time> INFO mlflow.tracking.fluent: Started run <id>" in text
    assert "run id: <id>" in text
    assert "model saved to /tmp/<tmp>/model.pkl" in text
    assert "took <duration>" in text and "object at 0x<addr>>" in text
    assert text.count("training: 100%|") == 1 and "30/30 [<time>]" in text
    assert "\r" not in text and "\x1b" not in text
    assert "accuracy 0.9312" in text     # data stays
