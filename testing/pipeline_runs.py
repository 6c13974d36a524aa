"""The DVC pipeline in a scratch copy of the repository, on a tiny suite and a scripted server.

The judges talk to a scripted OpenAI-compatible server (``llm=openai_compatible``)
so that every stage, MemAlign included, runs in seconds; the real offline model
is exercised by tests/llm/test_server.py and by ``make repro``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from nbjudge.config import compose_params
from testing.stage_runs import TINY_SUITE

ROOT = Path(__file__).resolve().parents[1]
OPEN_AUDIT = Path(__file__).with_name("open_audit")

TINY_OVERRIDES = [
    "suite.name=tiny",
    "suite.path=data/suites/tiny.yaml",
    "stats.bootstrap.n_resamples=500",
    "stats.permutation.n_resamples=200",
    "stats.power.n_simulations=50",
    "execute.cache_dir=null",
    "cv.k=2",
    "llm=openai_compatible",
    "llm.model=scripted",
    "judge.cache_dir=.nbjudge-cache/judgments",
    "curve.fractions=[0.5,1.0]",  # off by default; on here so that the curve stage runs
]

# What a scratch repository copies: the pipeline's code, configuration and inputs.
COPIED = ("conf", "stages", "src", "data/suites", "rubrics", "prompts", "plots")


def dvc(repo: Path, *args: str, open_log: Path | None = None) -> str:
    """Run ``dvc args`` in ``repo`` with this Python's tools; fail the test on an error."""
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1",
           "LITELLM_LOCAL_MODEL_COST_MAP": "True", "MLFLOW_MODEL_CATALOG_URI": ""}
    env.pop("MLFLOW_TRACKING_URI", None)  # the scratch repository keeps its own store
    if open_log is not None:
        # Every stage process records the files it touches (testing/open_audit).
        env["PYTHONPATH"] = os.pathsep.join(
            [str(OPEN_AUDIT), *filter(None, [env.get("PYTHONPATH")])])
        env["NBJUDGE_OPEN_LOG"] = str(open_log)
    result = subprocess.run([str(bin_dir / "dvc"), *args], cwd=repo, capture_output=True,
                            text=True, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def scratch_repo(repo: Path, base_url: str) -> Path:
    """A DVC repository (no git) at ``repo`` with the tiny suite, judged at ``base_url``."""
    repo.mkdir(parents=True, exist_ok=True)
    for name in COPIED:
        if (ROOT / name).exists():
            shutil.copytree(ROOT / name, repo / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copy(ROOT / "dvc.yaml", repo / "dvc.yaml")
    (repo / "data/suites/tiny.yaml").write_text(TINY_SUITE)
    compose_params(repo / "params.yaml", [*TINY_OVERRIDES, f"llm.base_url={base_url}"],
                   repo / "conf")
    dvc(repo, "init", "--no-scm", "-q")
    return repo
