"""labels=mlflow composes, and its defaults are the grading commands' defaults."""

from __future__ import annotations

import argparse
import contextlib

import yaml

from nbjudge.__main__ import _add_grading, main
from nbjudge.config import compose_params
from nbjudge.grading import DEFAULT_EXPERIMENT


def test_labels_mlflow_matches_the_grading_commands(tmp_path, capsys):
    out = tmp_path / "params.yaml"
    compose_params(out, ["labels=mlflow"], "conf")
    labels = yaml.safe_load(out.read_text())["labels"]
    assert labels["source"] == "mlflow"
    assert labels["experiment"] == DEFAULT_EXPERIMENT
    assert labels["tracking_uri"] is None
    for command in ("status", "export"):
        with contextlib.suppress(SystemExit):
            main(["grading", command, "--help"])
    text = capsys.readouterr().out
    assert "labels.experiment" in text and "labels.tracking_uri" in text
    # `grading status` writes the digest where the label stage depends on it.
    parser = argparse.ArgumentParser()
    _add_grading(parser.add_subparsers())
    args = parser.parse_args(["grading", "status"])
    assert str(args.digest) == labels["input"]
