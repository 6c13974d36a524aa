"""A grader in a real browser: MLflow's UI (headless Chromium) adds the grades, through
the review queue's form or the trace view's Add feedback; the ``label`` stage with
``labels=mlflow`` imports them.

Needs Debian's ``chromium`` and ``chromium-driver`` (scripts/bootstrap-system.sh) and
``selenium`` (the ``dev`` extra); nothing is downloaded at run time.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
import pytest

from nbjudge.schemas import DIMENSIONS, Case, Label, Notebook, read_records, write_records

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
EXPERIMENT = "grading-browser"
# What the grader gives, dimension by dimension (value, data type in the UI's form).
GRADES = {d: (2, "Number") for d in DIMENSIONS} | {
    "data_imputation": (1, "Number"), "library_installation": (3, "Number"),
    "mlflow_logging": ("N/A", "String")}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _write_project(root: Path) -> tuple[Path, Path]:
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("## Churn"),
        nbformat.v4.new_code_cell("import pandas as pd\ndf = pd.read_csv('churn.csv')\n"
                                  "df = df.fillna(df.mean())\ndf.shape",
                                  outputs=[nbformat.v4.new_output(
                                      "execute_result", {"text/plain": "(100, 5)"},
                                      execution_count=1)]),
    ])
    path = root / "nb" / "churn__01.ipynb"
    path.parent.mkdir(parents=True)
    nbformat.write(notebook, path)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    index = root / "index.jsonl"
    write_records(index, [Notebook(notebook_id="churn__01", case_id="churn",
                                   path="nb/churn__01.ipynb", sha256=sha, origin="import")])
    cases = root / "cases.jsonl"
    write_records(cases, [Case(case_id="churn", suite="browser", prompt="Who will churn?",
                               task_type="binary", dataset="churn", tables={"train": "churn"},
                               target="churned", notebooks=1)])
    return index, cases


def _cli(root: Path, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "nbjudge", *args], cwd=root, text=True,
                          capture_output=True, timeout=300, env=_env(root))
    assert done.returncode in (0, 2), done.stderr
    return done.stdout


def _env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"   # the server starts offline
    return env


@pytest.fixture
def server(tmp_path, request):
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip("no chromium/chromedriver: install Debian's chromium and chromium-driver "
                    "(make setup runs scripts/bootstrap-system.sh)")
    pytest.importorskip("selenium", reason="selenium missing: pip install -e .[dev]")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    index, cases = _write_project(tmp_path)
    started = _cli(tmp_path, "grading", "start", "--experiment", EXPERIMENT,
                   "--tracking-uri", uri, "--index", str(index), "--cases", str(cases),
                   "--raters", getattr(request, "param", "expert_1"))
    port = _free_port()
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", uri,
         "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, env=_env(tmp_path))
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300   # a loaded machine starts it slowly
        while True:
            try:
                with urllib.request.urlopen(url + "/health", timeout=2):
                    break
            except (urllib.error.URLError, ConnectionError, OSError):
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("mlflow server did not start:\n"
                                + (tmp_path / "server.log").read_text()[-3000:])
                time.sleep(0.5)
        yield {"url": url, "uri": uri, "root": tmp_path, "index": index, "started": started}
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


class _Grader:
    """A grader's browser, counting clicks and keys."""

    def __init__(self) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                    "--window-size=1600,1000"):
            options.add_argument(arg)
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        self.clicks = 0
        self.keys = 0
        self.strokes = 0   # keys that move, open, pick or submit (not the text typed)

    def type(self, element, text: str) -> None:
        element.send_keys(text)
        self.keys += len(text)

    def press(self, key: str, times: int = 1) -> None:
        """Press a key on whatever has the focus, as a grader at the keyboard does."""
        from selenium.webdriver.common.action_chains import ActionChains

        for _ in range(times):
            ActionChains(self.driver).send_keys(key).perform()
            self.strokes += 1

    def focused(self):
        return self.driver.switch_to.active_element

    def find(self, xpath: str, timeout: float = 20.0):
        from selenium.common.exceptions import StaleElementReferenceException
        from selenium.webdriver.common.by import By

        deadline = time.monotonic() + timeout
        while True:
            try:   # the page re-renders under a slow machine: an element found may go
                shown = [e for e in self.driver.find_elements(By.XPATH, xpath)
                         if e.is_displayed()]
            except StaleElementReferenceException:
                shown = []
            if shown:
                return shown[0]
            if time.monotonic() > deadline:
                raise AssertionError(f"nothing shown matches {xpath}{self.evidence()}")
            time.sleep(0.2)

    def evidence(self) -> str:
        """What the page showed when a wait ran out: a screenshot kept after the test and
        the start of the page's text, for the failure message."""
        from selenium.webdriver.common.by import By

        shot = Path(tempfile.gettempdir()) / "nbjudge-grading" / f"failed-{time.time():.0f}.png"
        try:
            shot.parent.mkdir(exist_ok=True)
            self.driver.save_screenshot(str(shot))
            text = self.driver.find_element(By.TAG_NAME, "body").text
        except Exception as error:
            return f" (no evidence: {error})"
        return f"\nscreenshot: {shot}\npage text: {' '.join(text.split())[:1500]!r}"

    def click(self, xpath: str):
        from selenium.common.exceptions import (
            ElementClickInterceptedException,
            StaleElementReferenceException,
        )

        # One click counted, however often the page re-rendered under it or an animation
        # (a menu closing, a tip fading) still covered it.
        for attempt in range(10):
            element = self.find(xpath)
            try:
                element.click()
            except (StaleElementReferenceException, ElementClickInterceptedException):
                if attempt == 9:
                    raise
                time.sleep(0.3)
                continue
            self.clicks += 1
            return element
        raise AssertionError(f"could not click {xpath}")

    def focus_becomes(self, check, what: str, timeout: float = 20.0):
        """The focused element once ``check(element)`` holds (focus moves after React
        re-renders, later on a loaded machine)."""
        from selenium.common.exceptions import StaleElementReferenceException

        deadline = time.monotonic() + timeout
        while True:
            element = self.focused()
            try:
                if check(element):
                    return element
                found = f"{element.tag_name} {element.get_attribute('aria-label')!r}"
            except StaleElementReferenceException:
                found = "(re-rendered)"
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: the focus is on {found}{self.evidence()}")
            time.sleep(0.1)

    def dismiss(self, xpath: str) -> None:
        """Close a one-time tip if it is there (not counted: it shows once per browser)."""
        try:
            element = self.find(xpath, timeout=3)
        except AssertionError:
            return
        self.driver.execute_script("arguments[0].click()", element)


def _grade(grader: _Grader, dimension: str, value, data_type: str, rationale: str) -> None:
    from selenium.webdriver.common.keys import Keys

    grader.click("//button[normalize-space()='Add feedback']")
    grader.click("//*[normalize-space()='Human feedback']")
    name = grader.click("//input[@placeholder='Enter a feedback name']")
    name.send_keys(dimension, Keys.ENTER)
    grader.click("//button[@aria-label='Data Type']")
    grader.click(f"//*[@role='option'][normalize-space()='{data_type}']")
    kind = "number" if data_type == "Number" else "string"
    box = grader.click("//*[@data-component-id="
                       f"'shared.model-trace-explorer.assessment-value-{kind}-input']")
    # Switching the type to String leaves the Boolean's "true" in the box: replace it.
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(str(value))
    text = grader.click("//textarea[@data-component-id="
                        "'shared.model-trace-explorer.assessment-rationale-input']")
    text.send_keys(rationale)
    grader.click("//button[normalize-space()='Create']")
    # The new feedback shows in the assessments pane under its name.
    grader.find(f"//*[normalize-space()='{dimension}']")


def test_a_grade_given_in_mlflows_ui_becomes_a_label(server):
    assert "mlflow ui --backend-store-uri" in server["started"]
    experiment_id = server["started"].split("(id ", 1)[1].split(")", 1)[0]
    grader = _Grader()
    shots = Path(tempfile.gettempdir()) / "nbjudge-grading"   # kept after the test
    shots.mkdir(exist_ok=True)
    screenshot = shots / "grading-trace.png"
    try:
        started = time.monotonic()
        grader.driver.get(f"{server['url']}/#/experiments/{experiment_id}/traces")
        grader.dismiss("//button[normalize-space()='Got it']")
        grader.dismiss("//button[@aria-label='Close']")        # the assistant's side panel
        grader.click("//*[@role='cell' or self::td][contains(., 'churn__01')]")
        grader.click("//button[starts-with(@aria-label, 'Assess trace')]")
        opened = grader.clicks
        for dimension, (value, data_type) in GRADES.items():
            rationale = ("fillna with the full-data mean before any split: leakage"
                         if dimension == "data_imputation" else f"{dimension}: average")
            _grade(grader, dimension, value, data_type, rationale)
            if dimension == "data_imputation":
                grader.driver.save_screenshot(str(screenshot))
        seconds = time.monotonic() - started
        grader.driver.save_screenshot(str(shots / "graded-nine.png"))
        per_grade = (grader.clicks - opened) / len(GRADES)
        body = grader.find("//body").text
    finally:
        grader.driver.quit()
    print(f"\nscreenshot: {screenshot}\nclicks to open the trace: {opened}; clicks per grade: "
          f"{per_grade:g}; nine grades in {seconds:.1f} s (automated)")
    assert screenshot.stat().st_size > 10_000
    assert "Feedback (9)" in body
    assert per_grade == 8

    root = server["root"]
    status = _cli(root, "grading", "status", "--experiment", EXPERIMENT,
                  "--tracking-uri", server["uri"], "--index", str(server["index"]),
                  "--digest", str(root / "mlflow_grades.json"))
    assert "9 importable grade(s), 0 problem(s)" in status, status
    params = root / "params.yaml"
    params.write_text(json.dumps({"seed": 1, "labels": {
        "source": "mlflow", "experiment": EXPERIMENT, "tracking_uri": server["uri"],
        "input": str(root / "mlflow_grades.json")}}))
    from stages.label import main as label_stage

    out = root / "labels.jsonl"
    label_stage(["--params", str(params), "--index", str(server["index"]), "--out", str(out)])
    labels = {lb.dimension: lb for lb in read_records(out, Label)}
    assert set(labels) == set(DIMENSIONS)
    imputation = labels["data_imputation"]
    assert (imputation.notebook_id, imputation.score, imputation.rater_id, imputation.source) \
        == ("churn__01", 1, "expert_1", "human")
    assert "leakage" in imputation.rationale
    assert labels["mlflow_logging"].score == "N/A"


def _answer_form(grader: _Grader, rater: str, rationale: str) -> None:
    """One notebook's form with the mouse: per question open the dropdown, pick the
    option, click the comment box and type; then Submit."""
    for dimension, (value, _) in GRADES.items():
        grader.click(f"//button[@role='combobox'][starts-with(@aria-label, '{dimension},')]")
        grader.click(f"//*[@role='option'][normalize-space()='{value}']")
        box = grader.click(f"(//textarea[@data-component-id="
                           f"'mlflow.experiment-review-queue.focused-review.rationale'])"
                           f"[{DIMENSIONS.index(dimension) + 1}]")
        grader.type(box, f"{rater}: {rationale if dimension == 'data_imputation' else 'ok'}")
    grader.click("//button[normalize-space()='Submit']")


def _answer_form_by_keyboard(grader: _Grader, rater: str, rationale: str) -> None:
    """One notebook's form from the keyboard: one click opens the first question's list;
    then per question arrows to the value (the list opens on "1"; options 1, 2, 3, N/A),
    Enter picks it, Tab reaches the comment box, the comment is typed, Tab reaches the
    next question and Enter opens its list; after the last comment Tab to Submit, Enter."""
    from selenium.webdriver.common.keys import Keys

    options = ["1", "2", "3", "N/A"]
    grader.click(f"//button[@role='combobox'][starts-with(@aria-label, '{DIMENSIONS[0]},')]")
    for i, dimension in enumerate(DIMENSIONS):
        value = str(GRADES[dimension][0])
        grader.find("//*[@role='option'][normalize-space()='1']")
        grader.press(Keys.ARROW_DOWN, options.index(value))
        grader.press(Keys.ENTER)
        # The list closes and gives the focus back to its question, showing the value
        # picked; a Tab sent before then is lost to the closing list.
        picked = f"{dimension}, selected option: {value}"
        grader.focus_becomes(lambda e, label=picked: (e.get_attribute("aria-label") or "")
                             .startswith(label), f"{dimension}: Enter picks {value}")
        grader.press(Keys.TAB)
        box = grader.focus_becomes(lambda e: e.tag_name == "textarea",
                                   f"{dimension}: Tab to the comment box")
        grader.type(box, f"{rater}: {rationale if dimension == 'data_imputation' else 'ok'}")
        grader.press(Keys.TAB)
        if i + 1 < len(DIMENSIONS):
            following = f"{DIMENSIONS[i + 1]},"
            grader.focus_becomes(
                lambda e, label=following: (e.get_attribute("aria-label") or "").startswith(
                    label), f"{dimension}: Tab to the next question")
            grader.press(Keys.ENTER)
    # Past whatever stands between the last comment and Submit, one Tab at a time, each
    # once the focus has moved (a Tab sent before it lands would skip Submit).
    focus = grader.focus_becomes(lambda e: e.tag_name != "textarea",
                                 "Tab out of the last comment box")
    for _ in range(10):
        if focus.text.strip() == "Submit":
            break
        grader.press(Keys.TAB)
        focus = grader.focus_becomes(lambda e, before=focus: e != before, "Tab to Submit")
    assert focus.text.strip() == "Submit"
    grader.press(Keys.ENTER)


def _start_review(grader: _Grader, shown: str) -> None:
    """Press Start review until ``shown`` appears. On a loaded machine the queue's page
    may still be re-rendering when the button is pressed, and the press is then lost
    (the button stays); a grader presses it again, and so does this, up to three times
    in three minutes."""
    start = "//button[normalize-space()='Start review']"
    for attempt in range(3):
        grader.click(start)
        try:
            grader.find(shown, timeout=60)
            return
        except AssertionError:
            if attempt == 2 or not grader.driver.find_elements("xpath", start):
                raise


@pytest.mark.parametrize("server", ["expert_1,expert_2"], indirect=True)
def test_two_raters_grade_one_notebook_in_their_review_queues(server):
    assert "/review-queue" in server["started"] and "9 question(s) made" in server["started"]
    experiment_id = server["started"].split("(id ", 1)[1].split(")", 1)[0]
    shots = Path(tempfile.gettempdir()) / "nbjudge-grading"   # kept after the test
    shots.mkdir(exist_ok=True)
    measured = {}
    # expert_1 grades with the mouse, expert_2 from the keyboard.
    for rater in ("expert_1", "expert_2"):
        grader = _Grader()
        try:
            grader.driver.get(f"{server['url']}/#/experiments/{experiment_id}/review-queue")
            grader.dismiss("//button[normalize-space()='Got it']")
            grader.dismiss("//button[@aria-label='Close']")    # the assistant's side panel
            grader.click(f"//*[normalize-space()='grading: {rater}']")
            # The notebook, as text, beside the form's nine questions in the rubric's order.
            _start_review(grader, "//*[contains(normalize-space(), 'Task: Who will churn?')]")
            code = grader.find("//code[contains(., \"df = df.fillna(df.mean())\")]"
                               " | //pre[contains(., \"df = df.fillna(df.mean())\")]")
            # Line by line (numbered), as in the notebook, not JSON with escaped breaks.
            assert re.search(r"\n\d+df = df\.fillna\(df\.mean\(\)\)\n\d+df\.shape\n", code.text)
            notebook_px = code.size["width"]
            labels = [e.get_attribute("aria-label") for e in grader.driver.find_elements(
                "xpath", "//button[@role='combobox']")]
            assert [label.split(",")[0] for label in labels] == list(DIMENSIONS)
            grader.driver.save_screenshot(str(shots / f"queue-form-{rater}.png"))
            opened, started = grader.clicks, time.monotonic()
            answer = _answer_form if rater == "expert_1" else _answer_form_by_keyboard
            answer(grader, rater, "fillna with the full-data mean before the split")
            grader.find("//*[contains(normalize-space(), '1 of 1 reviewed') or contains("
                        "normalize-space(), 'have been reviewed')]")
            measured[rater] = (grader.clicks - opened, grader.keys, time.monotonic() - started,
                               grader.strokes)
        finally:
            grader.driver.quit()
    clicks, keys, seconds, _ = measured["expert_1"]
    print(f"\nqueue form, one notebook: {opened} clicks to open the queue, then {clicks} "
          f"clicks and {keys} keys (rationales typed) in {seconds:.1f} s (automated); the "
          f"notebook's code box {notebook_px} px wide in a 1,600 px window; screenshots in "
          f"{shots}")
    assert clicks == 3 * len(DIMENSIONS) + 1
    clicks, keys, seconds, strokes = measured["expert_2"]
    print(f"keyboard route, one notebook: {clicks} click, {strokes} keys to move, open, pick "
          f"and submit, {keys} keys of comments, in {seconds:.1f} s (automated)")
    assert clicks == 1
    # Per question: arrows to the value, Enter, Tab, Tab, Enter (the last: no Enter); Submit.
    arrows = sum(["1", "2", "3", "N/A"].index(str(GRADES[d][0])) for d in DIMENSIONS)
    assert strokes == arrows + 4 * len(DIMENSIONS) - 1 + 1   # 47 with these grades
    # The notebook is the queue's response, drawn across its pane (the request, a chat
    # bubble, takes half of it: 264 px when the notebook was there).
    assert notebook_px >= 800

    root = server["root"]
    status = _cli(root, "grading", "status", "--experiment", EXPERIMENT,
                  "--tracking-uri", server["uri"], "--index", str(server["index"]),
                  "--digest", str(root / "mlflow_grades.json"))
    assert "18 importable grade(s), 0 problem(s), 2 rater(s)" in status, status
    assert "partial forms" not in status
    params = root / "params.yaml"
    params.write_text(json.dumps({"seed": 1, "labels": {
        "source": "mlflow", "experiment": EXPERIMENT, "tracking_uri": server["uri"],
        "input": str(root / "mlflow_grades.json")}}))
    from stages.label import main as label_stage

    out = root / "labels.jsonl"
    label_stage(["--params", str(params), "--index", str(server["index"]), "--out", str(out)])
    labels = {(lb.rater_id, lb.dimension): lb for lb in read_records(out, Label)}
    assert len(labels) == 2 * len(DIMENSIONS)
    for rater in ("expert_1", "expert_2"):
        imputation = labels[rater, "data_imputation"]
        assert (imputation.score, imputation.source) == (1, "human")
        assert imputation.rationale.startswith(f"{rater}: fillna")
        assert labels[rater, "mlflow_logging"].score == "N/A"
        assert labels[rater, "library_installation"].score == 3
