"""The run-only parameters: what the report and the MLflow run leave out."""

import yaml

from nbjudge.run_params import RUN_ONLY, result_param_keys, result_params
from tools.import_graph import ROOT

PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))


def test_every_run_only_key_is_a_parameter():
    """A key dvc.yaml names but params.yaml lacks stops `dvc repro`."""
    for key in RUN_ONLY:
        section, _, child = key.partition(".")
        assert child in PARAMS[section], f"{key} is not in params.yaml"


def test_result_params_drop_exactly_the_run_only_keys():
    kept = result_params(PARAMS)
    assert list(kept) == list(PARAMS)
    for section, value in PARAMS.items():
        if not isinstance(value, dict):
            assert kept[section] == value
            continue
        dropped = {k for k in value if f"{section}.{k}" in RUN_ONLY}
        assert set(kept[section]) == set(value) - dropped
        assert all(kept[section][k] == value[k] for k in kept[section])
    assert PARAMS["execute"]["workers"] == 2, "result_params changed its input"


def test_keys_name_every_section_or_each_kept_child():
    keys = result_param_keys(PARAMS)
    assert "execute.workers" not in keys and "execute" not in keys
    assert "execute.limits" in keys and "stats" in keys and "seed" in keys
    assert "judge.experiment" in keys and "judge.cache_dir" not in keys
    assert len(keys) == len(set(keys))
