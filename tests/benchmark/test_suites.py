import hashlib

import pandas as pd
import pytest

from nbjudge.benchmark.datasets import DATASETS, DatasetSpec, build_dataset
from nbjudge.benchmark.suites import SuiteError, build_cases, load_suite, table_path
from nbjudge.schemas import TASK_TYPES


def digest(folder):
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*.csv")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    return build_cases("data/suites/demo8.yaml", 42, out), out


def test_demo_suite_shape(demo):
    cases, _ = demo
    assert len(cases) >= 8
    assert sum(c.notebooks for c in cases) >= 8
    assert {c.task_type for c in cases} == set(TASK_TYPES) - {"unknown"}  # only imports
    assert any(c.properties.missing_columns for c in cases)
    assert any(not c.properties.missing_columns for c in cases)


def test_bench50_has_fifty_notebooks(tmp_path):
    cases = build_cases("data/suites/bench50.yaml", 42, tmp_path)
    assert sum(c.notebooks for c in cases) == 50


def test_tables_written_and_properties_true(demo):
    cases, out = demo
    for case in cases:
        train = pd.read_csv(table_path(out, case.case_id, case.tables["train"]))
        other_role = "future" if case.task_type == "forecasting" else "test"
        other = pd.read_csv(table_path(out, case.case_id, case.tables[other_role]))
        assert case.target in train.columns
        assert case.target not in other.columns
        assert case.properties.rows == len(train)
        assert sorted(case.properties.missing_columns) == sorted(
            c for c in train.columns if train[c].isna().any())
        if case.task_type == "binary_imbalanced":
            assert min(case.properties.class_balance.values()) < 0.15
        if case.task_type == "forecasting":
            assert case.properties.time_index in train.columns
            assert len(other) == case.horizon


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    build_cases("data/suites/demo8.yaml", 7, tmp_path / "a")
    build_cases("data/suites/demo8.yaml", 7, tmp_path / "b")
    build_cases("data/suites/demo8.yaml", 8, tmp_path / "c")
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    assert digest(tmp_path / "a") != digest(tmp_path / "c")


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_every_dataset_builds(name):
    forecasting = name in ("store_sales", "co2")
    spec = DatasetSpec(name=name, rows=200 if name != "wine" else None)
    dataset = build_dataset(spec, 1)
    assert set(dataset.tables) == ({"train", "future"} if forecasting else {"train", "test"})


def test_imbalance_is_controlled():
    dataset = build_dataset(DatasetSpec(name="churn", rows=4000, positive_rate=0.05), 3)
    assert dataset.tables["train"]["churned"].mean() == pytest.approx(0.05, abs=0.01)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"name": "imagenet"}, "unknown dataset 'imagenet'"),
    ({"name": "titanic", "missing_rate": 0.95}, "missing_rate must be in"),
    ({"name": "titanic", "missing_rate": 0.1}, "missing_rate and missing_mechanism disagree"),
    ({"name": "titanic", "missing_mechanism": "MNAR", "missing_rate": 0.1},
     "missing_mechanism must be"),
    ({"name": "titanic", "rows": 5}, "rows must be at least 60"),
])
def test_spec_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DatasetSpec(**kwargs)


def test_suite_errors(tmp_path):
    with pytest.raises(SuiteError, match="suite file not found"):
        load_suite(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("cases: [{case_id: a, prompt: p, task_type: binary}]")
    with pytest.raises(SuiteError, match="missing key 'dataset'"):
        load_suite(bad)
    bad.write_text("cases:\n - {case_id: a, prompt: p, task_type: binary, dataset: {name: x}}\n"
                   " - {case_id: a, prompt: p, task_type: binary, dataset: {name: x}}\n")
    with pytest.raises(SuiteError, match="duplicate case_id 'a'"):
        load_suite(bad)
    bad.write_text("cases: [{case_id: a, prompt: p, task_type: binary, dataset: {name: titanic, "
                   "colour: red}}]")
    with pytest.raises(SuiteError, match=r"unknown dataset keys \['colour'\]"):
        load_suite(bad)
    bad.write_text("cases: [{case_id: a, prompt: guess who survived, task_type: binary, "
                   "dataset: {name: titanic}}]")
    with pytest.raises(SuiteError, match="never names the table 'titanic_train'"):
        build_cases(bad, 1, tmp_path / "out")
    bad.write_text("cases: [{case_id: a, prompt: titanic_train titanic_test, "
                   "task_type: forecasting, dataset: {name: titanic}}]")
    with pytest.raises(SuiteError, match="does not fit task_type 'forecasting'"):
        build_cases(bad, 1, tmp_path / "out")


@pytest.mark.parametrize("name", ["demo", "demo8", "bench50"])
def test_every_shipped_suite_has_a_hydra_option(name):
    from omegaconf import OmegaConf

    option = OmegaConf.load(f"conf/suite/{name}.yaml")
    suite = load_suite(option.path)
    assert suite["suite"] == option.name == name


def test_default_demo_is_one_demo8_case_per_task_family():
    demo8 = {c["case_id"]: c for c in load_suite("data/suites/demo8.yaml")["cases"]}
    demo = load_suite("data/suites/demo.yaml")["cases"]
    assert all(demo8[c["case_id"]] == c for c in demo)
    assert {c["task_type"] for c in demo} == {"binary", "binary_imbalanced", "regression",
                                              "forecasting"}
