"""The headline (metrics.json) against the detail, and what DVC lists from dvc.yaml."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from nbjudge.mlflow_run import flatten
from nbjudge.stats import StatsConfig, analyze_experiment
from nbjudge.stats.headline import (
    experiment_identity,
    headline_metrics,
    headline_warning,
    write_headline,
)

from ._simulate import DIMENSIONS, records

ROOT = Path(__file__).resolve().parents[2]
LIGHT = {"bootstrap": {"n_resamples": 200}, "permutation": {"n_resamples": 99},
         "power": {"n_simulations": 50, "max_notebooks": 100}}
# What a team compares across experiments fits in a few dozen columns; the detail has
# about a thousand.
MAX_COLUMNS = 40


@pytest.fixture(scope="module")
def detail():
    labels, judgments = records(np.random.default_rng(3), n=14)
    return analyze_experiment(labels, judgments, StatsConfig.from_mapping(LIGHT),
                              seed=5).metrics


def test_headline_is_a_few_dozen_columns_taken_from_the_detail(detail):
    headline = headline_metrics(detail, reference="baseline")
    assert len(flatten(headline)) <= MAX_COLUMNS < len(flatten(detail))
    assert list(headline) == ["warning", "mae_mean", "status", "significant", "improvement"]
    assert headline["warning"] == ""  # a column in place for the experiments that have one
    # the reference first, then the judge variants: the leftmost columns of dvc exp show
    assert list(headline["mae_mean"])[:3] == ["baseline", "full", "semantic_only"]
    for variant in ("baseline", "full", "semantic_only"):
        assert headline["mae_mean"][variant] == detail["summary"][variant]["mae_mean"]
    assert list(headline["improvement"]) == list(headline["significant"]) == [
        "full", "semantic_only"]
    for variant in ("full", "semantic_only"):
        rows = detail["improvement"][variant]
        assert headline["significant"][variant] == sum(r["significant"] for r in rows.values())
        for dimension in DIMENSIONS:
            assert headline["improvement"][variant][dimension] == rows[dimension]["value"]


def test_a_significant_improvement_is_counted(detail):
    changed = json.loads(json.dumps(detail))
    for dimension, row in changed["improvement"]["full"].items():
        row["significant"] = dimension in ("model_use", "model_training")
    assert headline_metrics(changed, reference="baseline")["significant"]["full"] == 2


def test_warning_first_as_its_label_and_status_without_judgments():
    smoke = ("SMOKE TEST: judgments from a tiny offline model (smollm2-135m-instruct-q4_0); "
             "these numbers mean nothing about judge quality")
    headline = headline_metrics({"status": "no_judgments", "message": "no judgments exist yet",
                                 "labels": {"n_labels": 3}}, reference="baseline",
                                warning=smoke)
    assert headline == {"warning": "SMOKE TEST: meaningless", "status": "no_judgments",
                        "message": "no judgments exist yet"}
    assert headline_warning("a sentence without a label that goes on and on") == (
        "WARNING: meaningless")


PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
IDENTITY = ["suite", "generate", "labels", "llm", "model", "memory", "rng_seed"]


def test_the_identity_is_each_group_choice_as_a_short_value(detail):
    identity = experiment_identity(PARAMS)
    assert list(identity) == IDENTITY
    assert identity == {"suite": PARAMS["suite"]["name"],
                        "generate": PARAMS["generate"]["backend"],
                        "labels": PARAMS["labels"]["source"], "llm": PARAMS["llm"]["backend"],
                        "model": PARAMS["llm"]["model"], "memory": "both",
                        "rng_seed": PARAMS["seed"]}
    # conf/memory/: the choice's name, whichever order the variants are listed in
    for variants, name in ((["full"], "full"), (["semantic_only"], "semantic_only"),
                           (["semantic_only", "full"], "both"), ([], "none")):
        assert experiment_identity({"ablation": {"memory_variants": variants}}) == {
            "memory": name}
    # a small params file: what it has
    assert experiment_identity({"seed": 3, "stats": {}}) == {"rng_seed": 3}
    headline = headline_metrics(detail, reference="baseline", warning=SMOKE,
                                identity=identity)
    assert list(headline)[:len(IDENTITY) + 2] == [*IDENTITY, "warning", "mae_mean"]


def test_a_reference_without_mae_is_named(detail):
    with pytest.raises(ValueError, match=r"'judge_a' has no MAE .*set stats.reference"):
        headline_metrics(detail, reference="judge_a")
    with pytest.raises(ValueError, match="no 'status'"):
        headline_metrics({}, reference="baseline")


def _dvc(repo: Path, *args: str) -> str:
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "COLUMNS": "200",
           "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    result = subprocess.run([str(bin_dir / "dvc"), *args], cwd=repo, capture_output=True,
                            text=True, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo,
                   check=True, capture_output=True)


SMOKE = ("SMOKE TEST: judgments from a tiny offline model (smollm2-135m-instruct-q4_0); "
         "these numbers mean nothing about judge quality")
# A dependency's column holds its hash: 36 characters for a folder (the first column of
# the dependency group is never dropped). The branch name is as long as an experiment's row
# name (`├── a12cefd [semantic-only]`), so the table is as wide as a real one.
LOCK = """schema: '2.0'
stages:
  report:
    cmd: python -m stages.report
    deps:
    - path: data/alignment
      hash: md5
      md5: bcfcf7909a1f12937b449652878402d3.dir
      size: 10
      nfiles: 1
"""
BRANCH = "exp-a12cefd-semantic-only"
PAGER_WIDTH = 1024  # dvc/ui/table.py SHOW_MAX_WIDTH


@pytest.fixture
def dvc_repo(detail, tmp_path):
    """A repository with this dvc.yaml and params.yaml, the headline and the detail."""
    shutil.copy(ROOT / "dvc.yaml", tmp_path / "dvc.yaml")
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    (tmp_path / "dvc.lock").write_text(LOCK)
    _git(tmp_path, "init", "-q", "-b", BRANCH)
    _dvc(tmp_path, "init", "-q")
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "metrics_detail.json").write_text(json.dumps(detail))
    (reports / "compare.json").write_text("{}")  # the comparison off, as by default
    write_headline(reports / "metrics.json", detail, reference="baseline", warning=SMOKE,
                   identity=experiment_identity(PARAMS))
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-qm", "first")
    return tmp_path


# Another experiment in the workspace, as `dvc exp run -S memory=semantic_only -S llm=openai
# -S llm.model=gpt-4o` composes it: a real model, so no warning.
OTHER = {**PARAMS, "llm": {**PARAMS["llm"], "backend": "openai", "model": "gpt-4o"},
         "ablation": {"memory_variants": ["semantic_only"]}}
TERMINAL = 200


def _cell(header: str, line: str, name: str) -> str:
    """The cell of column ``name`` in ``line``: DVC aligns cells and names to the right."""
    end = header.index(f" {name} ") + 1 + len(name)
    start = line.rindex("  ", 0, end) + 2   # columns are set apart by at least two spaces
    return line[start:end]


def test_plain_exp_show_shows_the_headline(dvc_repo, detail):
    """Plain `dvc exp show` (DVC's pager layout; piped, as here, it prints that layout):
    DVC drops columns from the right until the table fits 1,024 characters, less one per
    column of the whole table (about 225 with every leaf of params.yaml and every
    dependency path). Every headline column up to the first judge variant's per-dimension
    improvements survives, in full, and the first 200 characters say what each experiment
    is (its identity columns, whole), the warning and the mean MAE of the reference and
    the first judge variant."""
    write_headline(dvc_repo / "reports/metrics.json", detail, reference="baseline",
                   identity=experiment_identity(OTHER))
    headline = json.loads((dvc_repo / "reports/metrics.json").read_text())
    shown = _dvc(dvc_repo, "exp", "show").splitlines()
    assert max(len(line) for line in shown) <= PAGER_WIDTH
    assert not any("\N{HORIZONTAL ELLIPSIS}" in line for line in shown)  # nothing cut short
    header = shown[1].split()
    judges = list(headline["improvement"])
    kept = [*IDENTITY, "warning", *(f"mae_mean.{v}" for v in headline["mae_mean"]), "status",
            *(f"significant.{v}" for v in judges),
            *(f"improvement.{judges[0]}.{d}" for d in DIMENSIONS)]
    assert header[:2 + len(kept)] == ["Experiment", "Created", *kept]
    rows = {line.split()[0]: line for line in shown[3:5]}   # the workspace's row, the branch's
    assert sorted(rows) == sorted(["workspace", BRANCH])
    first = shown[1][:TERMINAL]
    for name in ("Experiment", *IDENTITY, "warning", "mae_mean.baseline",
                 f"mae_mean.{judges[0]}"):
        assert f" {name} " in first, f"{name} is not in the first {TERMINAL} columns"
    for row, params, warning in ((rows[BRANCH], PARAMS, "SMOKE TEST: meaningless"),
                                 (rows["workspace"], OTHER, "")):
        cells = {name: _cell(shown[1], row[:TERMINAL], name) for name in (*IDENTITY, "warning")}
        assert cells == {**{k: str(v) for k, v in experiment_identity(params).items()},
                         "warning": warning}
    assert _cell(shown[1], rows["workspace"], "memory") == "semantic_only"


def test_dvc_lists_the_headline_not_the_detail(detail, dvc_repo):
    """The repository's dvc.yaml: plain `dvc exp show` and `dvc metrics diff` list the
    headline's leaves only; the detail is shown when named."""
    tmp_path = dvc_repo
    reports = tmp_path / "reports"
    headline = json.loads((reports / "metrics.json").read_text())
    columns = _dvc(tmp_path, "exp", "show", "--no-pager", "--csv").splitlines()[0].split(",")
    metric_columns = [c for c in columns if c in flatten(headline)]
    assert len(metric_columns) == len(flatten(headline))
    assert not any(c.startswith(("intervals.", "ceiling.", "contrast.")) for c in columns)

    changed = json.loads(json.dumps(detail))
    for row in changed["improvement"]["full"].values():
        row["value"] = (row["value"] or 0.0) + 0.5
    write_headline(reports / "metrics.json", changed, reference="baseline", warning=SMOKE,
                   identity=experiment_identity(PARAMS))
    diff = _dvc(tmp_path, "metrics", "diff", "--no-path").splitlines()
    assert len(diff) == 1 + len(DIMENSIONS)  # the header, one line per changed dimension
    # Another experiment: DVC lists the identity leaves that differ (a string's change is
    # "-") and the warning that went away, so the diff says what changed, then by how much.
    write_headline(reports / "metrics.json", changed, reference="baseline",
                   identity=experiment_identity(OTHER))
    diff = _dvc(tmp_path, "metrics", "diff", "--no-path").splitlines()
    rows = {line.split()[0]: line.split()[1:] for line in diff[1:]}   # sorted by name
    assert len(rows) == len(diff) - 1 == 4 + len(DIMENSIONS)
    assert rows["llm"] == [PARAMS["llm"]["backend"], "openai", "-"]
    assert rows["model"] == [PARAMS["llm"]["model"], "gpt-4o", "-"]
    assert rows["memory"] == ["both", "semantic_only", "-"]
    assert rows["warning"] == ["SMOKE", "TEST:", "meaningless", "-"]
    assert "metrics_detail" not in "".join(diff)
    named = _dvc(tmp_path, "metrics", "show", "reports/metrics_detail.json", "--json")
    assert "intervals" in named
