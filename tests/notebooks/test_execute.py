"""Execution in the sandbox: real kernels, so these take a few seconds each.

The sandbox's escape attempts and limits are in test_sandbox.py.
"""

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from nbjudge.notebooks.execute import execute_notebook, sandbox_env


def notebook(*sources):
    return new_notebook(cells=[new_code_cell(s, id=f"c{i}") for i, s in enumerate(sources)])


def test_sandbox_env_hides_secrets_and_points_mlflow_inside(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    monkeypatch.setenv("MLFLOW_EXPERIMENT_ID", "1")  # the caller's, meaningless inside
    monkeypatch.setenv("PIP_INDEX_URL", "https://user:token@pypi.example/simple")
    env = sandbox_env(tmp_path, tmp_path / "home")
    assert "OPENAI_API_KEY" not in env
    assert "MLFLOW_EXPERIMENT_ID" not in env
    assert "PIP_INDEX_URL" not in env and "PYTHONPATH" not in env
    assert env["MLFLOW_TRACKING_URI"] == f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert env["PIP_NO_INDEX"] == "1"
    assert env["HOME"] == str(tmp_path / "home")


@pytest.mark.slow
def test_runs_in_its_own_folder_with_tables_and_no_network(tmp_path):
    data = tmp_path / "data"
    (data / "extra").mkdir(parents=True)
    (data / "things_train.csv").write_text("a,b\n1,2\n3,4\n")
    (data / "extra" / "notes.txt").write_text("kept in its subfolder")
    nb = notebook(
        "import pandas as pd, os\nprint(sorted(os.listdir('.')))\n"
        "pd.read_csv('things_train.csv').shape",
        "import socket\ntry:\n    socket.create_connection(('192.0.2.1', 80), timeout=2)\n"
        "except OSError as exc:\n    print('refused:', exc)",  # TEST-NET: unroutable here
        "import os\nprint(os.environ['MLFLOW_TRACKING_URI'].startswith('sqlite:///'))",
    )
    result = execute_notebook(nb, data, timeout=60)
    assert result.status == "ok", result.error
    outputs = [o for c in result.notebook.cells for o in c.outputs]
    text = "".join(o.get("text", "") + str(o.get("data", {}).get("text/plain", ""))
                   for o in outputs)
    assert "['extra', 'things_train.csv']" in text
    assert "(2, 2)" in text
    assert "Network is unreachable" in text
    assert "True" in text
    assert result.seconds > 0


@pytest.mark.slow
def test_error_is_recorded_and_later_cells_not_run(tmp_path):
    nb = notebook("x = 1", "raise ValueError('boom')", "print('never')")
    result = execute_notebook(nb, None, timeout=60)
    assert result.status == "error"
    assert result.error == "ValueError: boom"
    assert result.notebook.cells[1].outputs[0].output_type == "error"
    assert result.notebook.cells[2].outputs == []


@pytest.mark.slow
def test_timeout_is_recorded(tmp_path):
    result = execute_notebook(notebook("import time\ntime.sleep(30)"), None, timeout=2)
    assert result.status == "timeout"
    assert "longer than 2 s" in result.error


@pytest.mark.slow
def test_caller_notebook_untouched():
    nb = notebook("print(1)")
    before = nbformat.writes(nb)
    execute_notebook(nb, None, timeout=60)
    assert nbformat.writes(nb) == before


@pytest.mark.slow
def test_sample_of_generated_notebooks_runs(tmp_path):
    """One notebook per task type; each runs unless its blueprint says it crashes."""
    from nbjudge.benchmark.procedural import generate_notebooks
    from nbjudge.benchmark.suites import build_cases
    from nbjudge.notebooks.batch import execute_index, plan_jobs

    cases = build_cases("data/suites/demo8.yaml", 42, tmp_path / "datasets")
    sample = {}
    for case in cases:
        sample.setdefault(case.task_type, case.model_copy(update={"notebooks": 1}))
    index, blueprint = generate_notebooks(list(sample.values()), 3, tmp_path / "gen",
                                          root=tmp_path)
    jobs = plan_jobs(index, list(sample.values()), tmp_path / "datasets", tmp_path / "exec",
                     tmp_path)
    executed = execute_index(jobs, timeout=180, workers=2, root=tmp_path, progress=False)
    crashes = {e.notebook_id for e in blueprint if e.crash}
    for entry in executed:
        if entry.notebook_id in crashes:
            assert entry.execution.status == "error"
        else:
            assert entry.execution.status == "ok", (entry.notebook_id, entry.execution.error)
        assert (tmp_path / entry.execution.path).exists()


# bench50's notebooks that stop with an error at the project seed (42): each is an
# intended crash, the template its blueprint flags (crash=True), and it stops in that
# template's cell with that template's error. The static side (every other notebook
# free of such faults) is tests/benchmark/test_suite_notebooks.py.
BENCH50_CRASHES = {
    "co2_forecast__01": ("fc_use_raw_future", "columns are missing", ".predict(new_data)"),
    "store_sales_forecast__03": ("fc_use_raw_future", "columns are missing",
                                 ".predict(scoring_df)"),
    "store_sales_forecast__04": ("fc_use_raw_future", "columns are missing",
                                 ".predict(scoring_df)"),
    "house_prices__02": ("metrics_crash", "Classification metrics can't handle a mix of "
                         "multiclass and continuous targets", "precision_score("),
    "ticket_priority__03": ("metrics_crash", "multi_class must be in ('ovo', 'ovr')",
                            "roc_auc_score("),
}


@pytest.mark.slow
def test_bench50_crashes_stop_at_their_crash_template(tmp_path):
    """The five bench50 notebooks that stop with an error stop where their blueprint
    says, with the error the crash template writes, after every earlier cell ran."""
    from nbjudge.benchmark.procedural import generate_notebooks
    from nbjudge.benchmark.suites import build_cases
    from nbjudge.notebooks.batch import execute_index, plan_jobs

    cases = build_cases("data/suites/bench50.yaml", 42, tmp_path / "datasets")
    index, blueprint = generate_notebooks(cases, 42, tmp_path / "gen", root=tmp_path)
    crashes = {e.notebook_id: e.template for e in blueprint if e.crash}
    assert crashes == {k: v[0] for k, v in BENCH50_CRASHES.items()}
    index = [entry for entry in index if entry.notebook_id in crashes]
    jobs = plan_jobs(index, cases, tmp_path / "datasets", tmp_path / "exec", tmp_path)
    executed = execute_index(jobs, timeout=300, workers=2, root=tmp_path, progress=False)
    assert len(executed) == len(BENCH50_CRASHES)
    for entry in executed:
        _, message, call = BENCH50_CRASHES[entry.notebook_id]
        assert entry.execution.status == "error", entry.notebook_id
        assert entry.execution.failure == "notebook", entry.notebook_id
        assert message in (entry.execution.error or ""), (entry.notebook_id,
                                                         entry.execution.error)
        code = [c for c in nbformat.read(tmp_path / entry.execution.path, 4).cells
                if c.cell_type == "code"]
        stopped = [i for i, c in enumerate(code)
                   if any(o.output_type == "error" for o in c.outputs)]
        assert len(stopped) == 1, entry.notebook_id
        assert call in code[stopped[0]].source, (entry.notebook_id, code[stopped[0]].source)
        assert all(c.execution_count is not None for c in code[:stopped[0]]), entry.notebook_id
