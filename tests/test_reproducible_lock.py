"""Two runs of the pipeline from scratch write the same dvc.lock.

Every output's hash must be the same: a timing, a latency, a run id or an absolute
path in a DVC output changes its hash on every run, leaves `git status` dirty after
`make repro` and makes an unchanged upstream stage rerun everything after it.
Such values belong in side files that are not outputs (see dvc.yaml's header).

The second run differs from the first in what a rerun on a working machine differs in:
it is a git checkout at another commit (a report that printed the commit would differ),
it starts with the first run's answer caches (a plan that recorded what was cached, or
an audit what alignment sent, would differ), and after it the register stage runs again
on its own store, which then holds every judge twice (a record of the registry's
version would say 2).
"""

import difflib
import filecmp
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from nbjudge.runlog import RUNLOG_ROOT
from testing.fault_server import FaultServer
from testing.pipeline_runs import dvc, scratch_repo
from testing.scripted_alignment import judge_or_guideline

pytestmark = pytest.mark.slow  # two `dvc repro` of the tiny suite: kernels, MemAlign, Chromium


def _outs(lock: dict) -> dict[str, str]:
    """Each output path of a dvc.lock and its hash."""
    return {out["path"]: out["md5"] for stage in lock["stages"].values()
            for out in stage.get("outs", [])}


def _differences(first: Path, second: Path, path: str) -> list[str]:
    """The files that differ under one output, with the first lines of their diff."""
    a, b = first / path, second / path
    if a.is_file():
        pairs = [(a, b)]
    else:
        names = sorted({p.relative_to(a) for p in a.rglob("*") if p.is_file()}
                       | {p.relative_to(b) for p in b.rglob("*") if p.is_file()})
        pairs = [(a / n, b / n) for n in names]
    found = []
    for x, y in pairs:
        if x.exists() and y.exists() and filecmp.cmp(x, y, shallow=False):
            continue
        try:
            diff = difflib.unified_diff(x.read_text().splitlines(), y.read_text().splitlines(),
                                        lineterm="", n=0)
            excerpt = [line[:160] for line in list(diff)[2:14]]
        except (OSError, UnicodeDecodeError):
            excerpt = ["(binary or missing)"]
        found.append("\n    ".join([str(x.relative_to(first)), *excerpt]))
    return found


def _git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "nbjudge", "GIT_AUTHOR_EMAIL": "nbjudge@localhost",
           "GIT_COMMITTER_NAME": "nbjudge", "GIT_COMMITTER_EMAIL": "nbjudge@localhost"}
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.strip()


def _checkout(repo: Path, commits: int) -> str:
    """Make ``repo`` a git repository with ``commits`` commits; its HEAD."""
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "pipeline")
    for n in range(1, commits):
        _git(repo, "commit", "-q", "--allow-empty", "-m", f"commit {n + 1}")
    return _git(repo, "rev-parse", "HEAD")


def _lock_differences(first: Path, second: Path) -> list[str]:
    """Outputs whose hash differs between the two repositories' dvc.lock, with excerpts."""
    locks = [yaml.safe_load((repo / "dvc.lock").read_text()) for repo in (first, second)]
    outs = [_outs(lock) for lock in locks]
    assert outs[0].keys() == outs[1].keys()
    changed = sorted(p for p in outs[0] if outs[0][p] != outs[1][p])
    return [d for p in changed for d in [p, *_differences(first, second, p)]]


def _runlog(repo: Path, output: str) -> list[dict]:
    path = repo / RUNLOG_ROOT / f"{output}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_two_runs_from_scratch_write_the_same_lock(tmp_path):
    with FaultServer(judge_or_guideline("Prefer imputers fit on the training split")) as server:
        first = scratch_repo(tmp_path / "first", server.base_url)
        heads = [_checkout(first, 1)]
        dvc(first, "repro")
        second = scratch_repo(tmp_path / "second", server.base_url)
        heads.append(_checkout(second, 2))
        shutil.copytree(first / ".nbjudge-cache", second / ".nbjudge-cache")
        dvc(second, "repro")
        differences = _lock_differences(first, second)
        assert not differences, "outputs that differ between two runs:\n" + "\n".join(
            differences)
        # the run-only facts are beside the outputs: the commit, what the cache held
        assert heads[0] != heads[1]
        assert _runlog(second, "reports/report.html") == [{"git_revision": heads[1]}]
        plan = _runlog(second, "data/judgments/baseline.plan.json")[0]
        assert plan["lines.0.cached"] > 0
        assert _runlog(first, "data/judgments/baseline.plan.json")[0]["lines.0.cached"] == 0

        # the store now holds the judges: registering them again makes version 2
        dvc(second, "repro", "--force", "--single-item", "register")
    versions = {v for k, v in _runlog(second, "data/registered/judges.json")[0].items()
                if k.endswith(".version")}
    assert versions == {2}
    differences = _lock_differences(first, second)
    assert not differences, "outputs that differ after registering again:\n" + "\n".join(
        differences)
    locks = [yaml.safe_load((repo / "dvc.lock").read_text()) for repo in (first, second)]
    assert locks[0] == locks[1]
    assert "Running stage" not in dvc(second, "repro")
