"""Running a stage: an nbjudge error is one line naming the stage; anything else is a bug
and keeps its traceback."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from nbjudge.config import run_stage, stage_name
from nbjudge.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
STATS_ARGS = ["--labels", "labels.jsonl", "--judgments", "judgments", "--index", "index.jsonl",
              "--metrics", "metrics.json", "--detail", "metrics_detail.json", "--out", "stats"]


def _bad_params(folder: Path) -> Path:
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    params["stats"]["bootstrap"]["n_resample"] = params["stats"]["bootstrap"].pop("n_resamples")
    path = folder / "params.yaml"
    path.write_text(yaml.safe_dump(params), encoding="utf-8")
    return path


def test_an_nbjudge_error_is_one_line_with_the_stage_name(capsys):
    def main(argv):
        raise InputError("labels.jsonl: file not found (run the stage that writes it first)")

    main.__module__ = "stages.label"
    assert run_stage(main, []) == 1
    assert capsys.readouterr().err == (
        "label: error: labels.jsonl: file not found (run the stage that writes it first)\n")


def test_an_injected_bug_keeps_its_traceback(tmp_path, monkeypatch):
    """A pandas-like ValueError inside a stage is a bug, not a message for the user."""
    import stages.stats

    def broken(*args, **kwargs):
        raise ValueError("cannot reindex on an axis with duplicate labels")

    monkeypatch.setattr(stages.stats, "read_records", broken)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="cannot reindex"):
        run_stage(stages.stats.main, ["--params", str(ROOT / "params.yaml"), *STATS_ARGS])


def test_an_injected_bug_prints_its_traceback_from_the_command_line(tmp_path):
    code = ("import runpy, sys, nbjudge.schemas\n"
            "def broken(*args, **kwargs):\n"
            "    raise ValueError('cannot reindex on an axis with duplicate labels')\n"
            "nbjudge.schemas.read_records = broken\n"
            f"sys.argv = ['stats', '--params', {str(ROOT / 'params.yaml')!r}, *{STATS_ARGS!r}]\n"
            "runpy.run_module('stages.stats', run_name='__main__', alter_sys=True)\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=ENV,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert "Traceback (most recent call last)" in result.stderr
    assert "ValueError: cannot reindex on an axis with duplicate labels" in result.stderr
    assert "error: cannot reindex" not in result.stderr


def test_python_m_names_the_stage_not_main(tmp_path):
    params = _bad_params(tmp_path)
    result = subprocess.run([sys.executable, "-m", "stages.stats", "--params", str(params),
                             *STATS_ARGS], cwd=ROOT, env=ENV, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 1
    assert result.stderr.startswith("stats: error: ")
    assert "unknown key `stats.bootstrap.n_resample`: did you mean `n_resamples`?" in (
        result.stderr)
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1


def test_the_stage_name_of_a_main_function():
    def main(argv):
        pass

    main.__module__ = "stages.folds"
    assert stage_name(main) == "folds"
