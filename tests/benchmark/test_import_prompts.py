"""What each imported notebook is judged against: its prompt, where it comes from, its task
type and what shows it. Every fixture notebook is written here, with nbformat, after the
shapes real folders hold: all-code notebooks, a one-cell script, a first markdown cell
that is a title, a conclusion, a course or book chapter header, a Python 2 notebook."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from nbjudge.__main__ import main
from nbjudge.benchmark.importer import (
    PLACEHOLDER,
    NotebookImportError,
    StatedTask,
    check_folder,
    code_evidence,
    read_notebook_folder,
    skip_reason,
)
from nbjudge.benchmark.importer.stating import stated_sentence
from nbjudge.notebooks.render import RenderOptions
from nbjudge.schemas import Case, read_records, write_records

CLASSIFY = """from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score, roc_auc_score
model = RandomForestClassifier().fit(X_train, y_train)
print(accuracy_score(y_test, model.predict(X_test)))"""
REGRESS = """from sklearn.linear_model import Ridge
from sklearn.metrics import mean_squared_error, r2_score
model = Ridge().fit(X_train, y_train)
rmse = mean_squared_error(y_test, model.predict(X_test)) ** 0.5"""
PROPHET = """from prophet import Prophet
m = Prophet().fit(history)
future = m.make_future_dataframe(periods=90)
forecast = m.predict(future)"""
PYTHON2 = """%matplotlib inline
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
print 'fitting'
clf = LogisticRegression().fit(X, y)
print f1_score(y, clf.predict(X), average='macro')"""
TASK = "Predict which passengers survived the Titanic from the passenger list in train.csv."


def write(folder: Path, name: str, *cells: nbformat.NotebookNode) -> None:
    nbformat.write(new_notebook(cells=list(cells)), folder / name)


def code(source: str) -> nbformat.NotebookNode:
    return new_code_cell(source)


def md(source: str) -> nbformat.NotebookNode:
    return new_markdown_cell(source)


@pytest.fixture
def real_folder(tmp_path: Path) -> Path:
    """A folder like people's: none of these notebooks states its task in its first cell."""
    folder = tmp_path / "people"
    folder.mkdir()
    write(folder, "all_code.ipynb", code("import pandas as pd"), code(CLASSIFY))
    write(folder, "script.ipynb", code(f"import pandas as pd\n{REGRESS}"))
    write(folder, "titled.ipynb", md("# Titanic: Machine Learning from Disaster"),
          md(TASK), code(CLASSIFY))
    write(folder, "concluded.ipynb",
          md("In conclusion, we achieved 82% accuracy with a random forest."), code(CLASSIFY))
    write(folder, "course.ipynb",
          md("## [mlcourse.ai](https://mlcourse.ai) - Open Machine Learning Course\n\n"
             "Author: Jane Doe. This material is subject to the Creative Commons license."),
          code(PROPHET))
    write(folder, "chapter.ipynb", md("**Chapter 4 - Training Models**"),
          md("_This notebook contains all the sample code and solutions to the exercises "
             "in chapter 4._"), code(REGRESS))
    write(folder, "python2.ipynb", md("# Titanic"), code(PYTHON2))
    return folder


def test_every_notebook_of_a_real_folder_imports(real_folder):
    imported = read_notebook_folder(real_folder)
    assert len(imported.notebooks) == 7
    by_file = {imported.sources[n.notebook_id]: n for n in imported.notebooks}
    cases = {c.case_id: c for c in imported.cases}
    case_of = {file: cases[n.case_id] for file, n in by_file.items()}
    # The title is skipped, the task-like cell after it taken.
    assert case_of["titled.ipynb"].prompt == TASK
    assert case_of["titled.ipynb"].prompt_source == "markdown cell"
    assert imported.prompt_notes[by_file["titled.ipynb"].notebook_id] == (
        "cell 2; cell 1 skipped: a title or heading")
    # Nothing states the task: the placeholder, a case of its own, a warning each.
    unknown = {"all_code.ipynb", "script.ipynb", "concluded.ipynb", "course.ipynb",
               "chapter.ipynb", "python2.ipynb"}
    for file in unknown:
        assert (case_of[file].prompt, case_of[file].prompt_source) == (PLACEHOLDER, "unknown")
    assert len({case_of[file].case_id for file in unknown}) == len(unknown)
    assert sorted(w.split(":")[0] for w in imported.warnings) == sorted(unknown)
    assert "cell 1 skipped: a conclusion" in " ".join(imported.warnings)
    assert "cell 1 skipped: a course or chapter header" in " ".join(imported.warnings)
    # The task type comes from the code, with what shows it.
    assert {file: case.task_type for file, case in case_of.items()} == {
        "all_code.ipynb": "binary", "script.ipynb": "regression", "titled.ipynb": "binary",
        "concluded.ipynb": "binary", "course.ipynb": "forecasting",
        "chapter.ipynb": "regression", "python2.ipynb": "multiclass"}
    assert case_of["course.ipynb"].task_type_evidence == (
        "code: Prophet, forecast, make_future_dataframe")
    assert case_of["script.ipynb"].task_type_evidence == (
        "code: mean_squared_error, r2_score, rmse, Ridge")


def test_case_records_keep_the_prompt_source_and_suites_stay_as_they_were(real_folder,
                                                                          tmp_path):
    imported = read_notebook_folder(real_folder)
    write_records(tmp_path / "cases.jsonl", imported.cases)
    again = read_records(tmp_path / "cases.jsonl", Case)
    assert [c.prompt_source for c in again] == [c.prompt_source for c in imported.cases]
    assert all(c.task_type_evidence for c in again)
    suite_case = Case(case_id="a", suite="demo", prompt="p", task_type="binary", dataset="d",
                      tables={}, target="t", notebooks=1)
    assert "prompt_source" not in suite_case.model_dump_json()   # suites' records unchanged


@pytest.mark.parametrize(("text", "reason"), [
    ("# Titanic: Machine Learning from Disaster", "a title or heading"),
    ("**House Prices**\n\n![logo](logo.png)\n\n---", "a title or heading"),
    ("<img src='logo.png'>\n## 1. Imports", "a title or heading"),
    ("**Chapter 4 - Training Models**\n\nSee the exercises at the end.",
     "a course or chapter header"),
    ("Lecture 3: gradient boosting on the adult census income data, with the rest",
     "a course or chapter header"),
    ("Author: Jane Doe, licensed under CC BY-NC-SA", "a course or chapter header"),
    ("In conclusion, the random forest does best on the held-out data.", "a conclusion"),
    ("We trained three models and the gradient boosting one won.", "a conclusion"),
    ("Finally we achieved an RMSE of 0.13 on the public leaderboard.", "a conclusion"),
    ("Let's look at the data first and see what is in it.", "a step of the notebook"),
    ("Data exploration", "too short"),
    ("Load the data.", "too short"),
    (TASK, None),
    ("We need to predict the sale price of each house in test.csv.", None),
    ("# Task\n\nForecast monthly airline passengers for the next two years.", None),
    ("Build a churn prediction model.", None),
])
def test_the_rule_that_skips_markdown_that_is_not_a_task(text, reason):
    assert skip_reason(text) == reason


def test_only_the_opening_of_a_notebook_can_state_its_task(tmp_path):
    write(tmp_path, "late.ipynb", code("import pandas as pd"), code("df = pd.read_csv('x')"),
          code("df.describe()"), md(TASK))
    (case,) = read_notebook_folder(tmp_path).cases
    assert case.prompt_source == "unknown"


def test_prompts_csv_gives_prompts_and_task_types(real_folder):
    (real_folder / "prompts.csv").write_text(
        "file,prompt,task_type\n"
        f"all_code.ipynb,\"{TASK}\",binary_imbalanced\n"
        "script.ipynb,\"Predict house prices, in dollars.\",\n", encoding="utf-8")
    imported = read_notebook_folder(real_folder)
    cases = {c.case_id: c for c in imported.cases}
    # not data for the notebooks
    assert all("prompts.csv" not in files for files in imported.data.values())
    assert (cases["all_code"].prompt, cases["all_code"].prompt_source,
            cases["all_code"].task_type, cases["all_code"].task_type_evidence) == (
        TASK, "prompts.csv", "binary_imbalanced", "given in prompts.csv")
    assert (cases["script"].prompt, cases["script"].task_type) == (
        "Predict house prices, in dollars.", "regression")
    assert cases["script"].task_type_evidence == "prompt: the word 'price'"
    assert not any(w.startswith(("all_code", "script")) for w in imported.warnings)
    # cases.yaml wins over prompts.csv
    (real_folder / "cases.yaml").write_text("script.ipynb: {prompt: From cases.yaml here}\n")
    cases = {c.case_id: c for c in read_notebook_folder(real_folder).cases}
    assert (cases["script"].prompt, cases["script"].prompt_source) == (
        "From cases.yaml here", "cases.yaml")


def test_prompts_csv_without_a_header(tmp_path):
    write(tmp_path, "a.ipynb", code(CLASSIFY))
    (tmp_path / "prompts.csv").write_text(f"a.ipynb,{TASK}\n", encoding="utf-8")
    (case,) = read_notebook_folder(tmp_path).cases
    assert (case.prompt, case.prompt_source) == (TASK, "prompts.csv")


@pytest.mark.parametrize(("content", "message"), [
    ("file,prompt\nghost.ipynb,Predict things\n",
     r"prompts.csv: line 2: 'ghost.ipynb' is not a notebook in the folder \(a.ipynb\)"),
    ("file,prompt\na.ipynb,Predict, things, now, please\n",
     r"prompts.csv: line 2: expected file,prompt\[,task_type\], got 5 column\(s\); quote"),
    ("file,prompt\na.ipynb,\n", r"prompts.csv: line 2: 'a.ipynb' has an empty prompt"),
    ("file,prompt\na.ipynb,A\na.ipynb,B\n",
     r"prompts.csv: line 3: 'a.ipynb' is given again \(first on line 2\)"),
    ("file,prompt,kind\na.ipynb,A,b\n", r"prompts.csv: line 1: the columns are file, prompt"),
    ("file,prompt,task_type\na.ipynb,Predict it well,clustering\n",
     r"case 'a': task_type 'clustering' is not one of binary"),
])
def test_a_bad_prompts_csv_is_named_line_by_line(tmp_path, content, message):
    write(tmp_path, "a.ipynb", code(CLASSIFY))
    (tmp_path / "prompts.csv").write_text(content, encoding="utf-8")
    with pytest.raises(NotebookImportError, match=message):
        read_notebook_folder(tmp_path)


@pytest.mark.parametrize(("cells", "task_type", "evidence"), [
    ([CLASSIFY], "binary", ("accuracy_score", "roc_auc_score", "RandomForestClassifier")),
    ([REGRESS], "regression", ("mean_squared_error", "r2_score", "Ridge")),
    ([PROPHET], "forecasting", ("Prophet", "make_future_dataframe")),
    (["from statsmodels.tsa.arima.model import ARIMA\nfit = ARIMA(y, order=(1,1,1)).fit()\n"
      "pred = fit.forecast(steps=12)\nmean_squared_error(test, pred)"],
     "forecasting", ("ARIMA", "forecast")),
    (["from statsmodels.tsa.holtwinters import ExponentialSmoothing\n"
      "ExponentialSmoothing(y, seasonal='add').fit()"], "forecasting",
     ("ExponentialSmoothing",)),
    (["from xgboost import XGBClassifier\nXGBClassifier().fit(X, y)\n"
      "f1_score(y, p, average='weighted')"], "multiclass", ("f1_score", "XGBClassifier")),
    (["from imblearn.over_sampling import SMOTE\nX2, y2 = SMOTE().fit_resample(X, y)\n"
      "roc_auc_score(y, p)"], "binary_imbalanced", ("roc_auc_score",)),
    (["df = pd.read_csv('data.csv')\ndf.describe()"], "unknown", ()),
    (["from sklearn.linear_model import LinearRegression, LogisticRegression"], "unknown",
     ("LogisticRegression", "LinearRegression")),
])
def test_task_type_from_estimators_and_metrics(cells, task_type, evidence):
    shown = code_evidence(cells)
    assert shown.task_type == task_type
    assert shown.evidence[:len(evidence)] == evidence or set(evidence) <= set(shown.evidence)
    if task_type == "unknown" and not evidence:
        assert shown.describe() == "nothing in the code indicates it"


def test_python2_and_magics_are_read_without_a_crash():
    shown = code_evidence([PYTHON2, "!pip install xgboost\nx = 1", "def broken(:\n  pass"])
    assert shown.task_type == "multiclass"
    assert {"f1_score", "LogisticRegression", "macro"} <= set(shown.evidence)
    assert shown.unparsed_cells == 2   # the print statement, the broken cell; not the magics


def test_import_check_shows_prompts_sources_task_types_and_doubts(real_folder, capsys):
    assert main(["import-check", str(real_folder)]) == 0
    out = capsys.readouterr().out
    assert "7 notebook(s) in" in out
    assert "  titled.ipynb: prompt from markdown cell (cell 2; cell 1 skipped: a title" in out
    assert f'    "{TASK[:97]}' in out
    assert "? all_code.ipynb: no task prompt (no markdown cell)" in out
    assert "    task type forecasting (code: Prophet, forecast, make_future_dataframe)" in out
    assert "    doubtful: no task prompt" in out
    assert "6 of 7 notebook(s) doubtful" in out
    assert out.count("warning: ") == 6
    assert "-S generate.prompt=infer" in out


def test_import_check_rows_doubt_short_and_heading_prompts(tmp_path):
    write(tmp_path, "short.ipynb", md("## Setup\nPredict the churn of clients."), code(CLASSIFY))
    write(tmp_path, "good.ipynb", md(TASK), code(CLASSIFY))
    rows, warnings = check_folder(tmp_path, RenderOptions(max_tokens=2000))
    doubts = {r.file: r.doubts for r in rows}
    assert doubts == {"good.ipynb": (),
                      "short.ipynb": ("short prompt (7 words)", "starts with a heading")}
    assert warnings == []


def test_a_stater_states_unknown_tasks_and_junk_keeps_the_placeholder(real_folder):
    asked: list[str] = []

    def stater(notebooks):
        asked.extend(sorted(notebooks))
        return {"all_code": StatedTask("Predict a binary outcome with a random forest.",
                                       None, cached=True, note="local:tiny"),
                "script": StatedTask(None, "code, not a sentence ('import pandas')")}

    imported = read_notebook_folder(real_folder, stater=stater)
    assert asked == ["all_code", "chapter", "concluded", "course", "python2", "script"]
    cases = {c.case_id: c for c in imported.cases}
    assert (cases["all_code"].prompt_source, cases["all_code"].prompt) == (
        "inferred", "Predict a binary outcome with a random forest.")
    assert imported.prompt_notes["all_code"] == "local:tiny, from the answer cache"
    # the model's sentence says 'binary', but the code shows the task type first
    assert cases["all_code"].task_type_evidence.startswith("code: accuracy_score")
    assert cases["script"].prompt_source == "unknown"
    (script,) = [w for w in imported.warnings if w.startswith("script.ipynb")]
    assert "the judge model's answer was unusable: code, not a sentence" in script
    assert "-S generate.prompt=infer" not in script   # it was asked


@pytest.mark.parametrize(("raw", "prompt", "problem"), [
    ("Predict which customers will churn next month from their usage data.",
     "Predict which customers will churn next month from their usage data.", None),
    ('Task: "Forecast daily sales for each store over the next six weeks"\nMore text.',
     "Forecast daily sales for each store over the next six weeks.", None),
    ("", None, "an empty answer"),
    ("I'm sorry, I cannot determine the task of this notebook.", None, "a refusal"),
    ("import pandas as pd", None, "code, not a sentence"),
    ("Titanic survival.", None, "too short for a task"),
    ("1 2 3 4 5 6 7 8 9 10 11", None, "not prose"),
    ("data data data data data data data data", None, "the same words over and over"),
])
def test_the_models_sentence_is_checked_before_use(raw, prompt, problem):
    got, why = stated_sentence(raw)
    assert got == prompt
    assert (why or "").startswith(problem or "")
    assert (why is None) == (problem is None)


def test_the_judge_model_states_tasks_through_its_api_cached(real_folder, tmp_path,
                                                             monkeypatch):
    """``generate.prompt: infer`` against a server speaking OpenAI's API: a usable sentence
    is taken (marked inferred), junk keeps the placeholder, a rerun sends nothing."""
    from nbjudge.benchmark.importer.stating import task_stater
    from nbjudge.llm.backends import LLMConfig
    from testing.fault_server import FaultServer, reply

    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    good = "Predict house prices from the listing data and report the RMSE."

    def answer(_index, body):
        return reply(good if "Ridge" in str(body) else "```python\nimport pandas\n```")

    with FaultServer(answer) as server:
        config = LLMConfig.from_mapping({
            "backend": "openai_compatible", "model": "fault-model",
            "base_url": server.base_url, "context_size": 4096, "concurrency": 2,
            "timeout": 10, "max_retries": 0, "temperature": 0.0, "max_output_tokens": 64,
            "rationale_max_chars": 80, "notebook_tokens": 300})
        stater = task_stater(config, cache_dir=str(tmp_path / "cache"))
        first = read_notebook_folder(real_folder, stater=stater)
        sent = server.count
        second = read_notebook_folder(real_folder, stater=stater)
        assert server.count == sent == 6   # the six notebooks without a prompt, once each
    cases = {c.case_id: c for c in first.cases}
    assert (cases["script"].prompt, cases["script"].prompt_source) == (good, "inferred")
    assert cases["chapter"].prompt_source == "inferred"   # its code fits Ridge too
    assert cases["all_code"].prompt_source == "unknown"
    assert "code, not a sentence" in " ".join(first.warnings)
    assert second.prompt_notes["script"] == "openai_compatible:fault-model, from the answer cache"
    assert [c.prompt for c in second.cases] == [c.prompt for c in first.cases]


def test_a_case_takes_the_prompt_one_of_its_notebooks_states(tmp_path):
    write(tmp_path, "a.ipynb", code(CLASSIFY))
    write(tmp_path, "b.ipynb", md("# Titanic"), md(TASK), code(CLASSIFY))
    (tmp_path / "cases.yaml").write_text("'*': {case_id: titanic}\n")
    imported = read_notebook_folder(tmp_path)
    (case,) = imported.cases
    assert (case.prompt, case.prompt_source, case.notebooks) == (TASK, "markdown cell", 2)
    assert imported.warnings == []   # a.ipynb's case has b.ipynb's prompt
    rows, _ = check_folder(tmp_path, RenderOptions(max_tokens=2000))
    notes = {r.file: (r.prompt_source, r.prompt_note, r.doubts) for r in rows}
    assert notes["a.ipynb"] == ("markdown cell", "the prompt of case titanic", ())
    assert notes["b.ipynb"] == ("markdown cell", "cell 2; cell 1 skipped: a title or heading", ())
