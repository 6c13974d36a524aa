"""Grading with sign-in: `grading serve`'s accounts and MLflow's basic-auth app; an expert
signed in as their rater id grades in their review queue and the grade carries their
name (headless Chromium; needs the `auth` extra)."""

from __future__ import annotations

import subprocess
import time
import urllib.error
import urllib.request
from base64 import b64encode

import pytest

from grading.test_browser import (
    CHROMEDRIVER,
    CHROMIUM,
    EXPERIMENT,
    GRADES,
    _answer_form,
    _cli,
    _env,
    _free_port,
    _Grader,
    _write_project,
)
from nbjudge.errors import InputError
from nbjudge.grading import read_grades
from nbjudge.grading.serve import prepare_sign_in, server_command
from nbjudge.grading.traces import grading_traces
from nbjudge.schemas import DIMENSIONS

pytestmark = pytest.mark.slow


def _status(url: str, user: str | None = None, password: str = "") -> int:
    request = urllib.request.Request(url)
    if user is not None:
        token = b64encode(f"{user}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def test_accounts_are_made_once_and_reserved_names_refused(tmp_path):
    pytest.importorskip("flask_wtf", reason="the auth extra: pip install -e .[auth]")
    first = prepare_sign_in(tmp_path, ["expert_1", "expert_2"], "1")
    assert first.created == ("admin", "expert_1", "expert_2")
    again = prepare_sign_in(tmp_path, ["expert_1", "expert_3"], "1")
    assert again.created == ("expert_3",) and again.secret_key == first.secret_key
    lines = first.passwords.read_text().splitlines()
    assert [line.split("\t")[0] for line in lines] == ["admin", "expert_1", "expert_2",
                                                       "expert_3"]
    assert oct(first.passwords.stat().st_mode & 0o777) == "0o600"
    with pytest.raises(InputError, match=r"'default'.*cannot be a rater's user name"):
        prepare_sign_in(tmp_path, ["default"], "1")


def test_a_signed_in_expert_grades_under_their_name(tmp_path):
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip("no chromium/chromedriver (make setup runs scripts/bootstrap-system.sh)")
    pytest.importorskip("selenium", reason="selenium missing: pip install -e .[dev]")
    pytest.importorskip("flask_wtf", reason="the auth extra: pip install -e .[auth]")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    index, cases = _write_project(tmp_path)
    started = _cli(tmp_path, "grading", "start", "--experiment", EXPERIMENT,
                   "--tracking-uri", uri, "--index", str(index), "--cases", str(cases),
                   "--raters", "expert_1")
    experiment_id = started.split("(id ", 1)[1].split(")", 1)[0]
    sign_in = prepare_sign_in(tmp_path / "auth", ["expert_1"], experiment_id)
    password = dict(line.split("\t") for line in
                    sign_in.passwords.read_text().splitlines())["expert_1"]
    port = _free_port()
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen(server_command(uri, "127.0.0.1", port), cwd=tmp_path,
                               stdout=log, stderr=subprocess.STDOUT,
                               env=_env(tmp_path) | sign_in.environ())
    url = f"http://127.0.0.1:{port}"
    api = f"{url}/api/2.0/mlflow/experiments/get?experiment_id={experiment_id}"
    try:
        deadline = time.monotonic() + 120
        while _status_or_none(api) is None:
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("mlflow server did not start:\n"
                            + (tmp_path / "server.log").read_text()[-3000:])
            time.sleep(0.5)
        assert _status(api) == 401
        assert _status(api, "expert_1", "wrong password!") == 401
        assert _status(api, "expert_1", password) == 200
        grader = _Grader()
        try:
            # Chromium keeps the credentials a page asked for (401) for its origin.
            grader.driver.get(api.replace("http://", f"http://expert_1:{password}@"))
            grader.driver.get(f"{url}/#/experiments/{experiment_id}/review-queue")
            grader.dismiss("//button[@aria-label='Close']")
            grader.click("//*[normalize-space()='grading: expert_1']")
            grader.click("//button[normalize-space()='Start review']")
            _answer_form(grader, "expert_1", "fillna before the split")
            grader.find("//*[contains(normalize-space(), 'have been reviewed')]")
        finally:
            grader.driver.quit()
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
    [trace] = grading_traces(uri, EXPERIMENT)[0]
    assert {a.source.source_id for a in trace.assessments} == {"expert_1"}
    grades = read_grades(uri, EXPERIMENT, ["churn__01"])
    assert not grades.problems
    assert {(lb.rater_id, lb.dimension, lb.score) for lb in grades.labels} == {
        ("expert_1", d, GRADES[d][0]) for d in DIMENSIONS}


def _status_or_none(url: str) -> int | None:
    try:
        return _status(url)
    except (urllib.error.URLError, ConnectionError, OSError):
        return None


