"""Two runs of the pipeline from scratch write the same dvc.lock.

Every output's hash must be the same: a timing, a latency, a run id or an absolute
path in a DVC output changes its hash on every run, leaves `git status` dirty after
`make repro` and makes an unchanged upstream stage rerun everything after it.
Such values belong in side files that are not outputs (see dvc.yaml's header).
"""

import difflib
import filecmp
from pathlib import Path

import pytest
import yaml

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


def test_two_runs_from_scratch_write_the_same_lock(tmp_path):
    with FaultServer(judge_or_guideline("Prefer imputers fit on the training split")) as server:
        first = scratch_repo(tmp_path / "first", server.base_url)
        dvc(first, "repro")
        second = scratch_repo(tmp_path / "second", server.base_url)
        dvc(second, "repro")
    locks = [yaml.safe_load((repo / "dvc.lock").read_text()) for repo in (first, second)]
    outs = [_outs(lock) for lock in locks]
    assert outs[0].keys() == outs[1].keys()
    changed = sorted(p for p in outs[0] if outs[0][p] != outs[1][p])
    report = [d for p in changed for d in _differences(first, second, p)]
    assert not changed, f"outputs that differ between two runs: {changed}\n" + "\n".join(report)
    assert locks[0] == locks[1]
    assert "Running stage" not in dvc(second, "repro")
