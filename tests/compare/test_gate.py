"""The release gate: its test, Holm, exit codes, summary, JUnit XML and command line."""

import re
from xml.etree import ElementTree

import numpy as np
import pytest
import yaml
from scipy.stats import t as student_t
from statsmodels.stats.multitest import multipletests

from nbjudge.__main__ import main
from nbjudge.compare.gate import GateSettings, evaluate_gate, parse_tolerances
from nbjudge.errors import InputError
from nbjudge.schemas import DIMENSIONS, ArmComparison, PPIComparison, write_records
from nbjudge.stats.compare import compare_arms


def _record(dimension="model_training", difference=-0.3, se=0.1, df=19.0, n_cases=30,
            failure=(0.0, 0.0), ppi=None, candidate="new"):
    return ArmComparison(
        reference="old", candidate=candidate, dimension=dimension, level=0.95,
        na_policy="worst", failure_policy="worst", family_size=1, n_cases=n_cases,
        n_notebooks_reference=4 * n_cases, n_notebooks_candidate=4 * n_cases,
        failure_rate_reference=failure[0], failure_rate_candidate=failure[1],
        na_rate_reference=0.0, na_rate_candidate=0.0, mean_reference=2.2,
        mean_candidate=2.2 + difference, difference=difference,
        ci_low=None if se is None else difference - 2 * se,
        ci_high=None if se is None else difference + 2 * se, standard_error=se, df=df,
        p_value=0.01, p_holm=0.01, test_method="exact", mdd=0.2, n_graded_reference=0,
        n_graded_candidate=0, ppi=ppi)


def _ppi(difference, se=0.1, df=9.0, outside=False):
    return PPIComparison(
        mean_reference=2.0, mean_candidate=2.0 + difference, difference=difference,
        ci_low=difference - 2 * se, ci_high=difference + 2 * se, standard_error=se, df=df,
        p_value=0.5, p_holm=0.5, lambda_reference=0.5, lambda_candidate=0.5, mdd=0.3,
        classic_standard_error=0.2, judge_outside_ppi=outside)


def test_one_sided_test_against_the_tolerance_with_holm():
    records = [_record(d, difference=x) for d, x in zip(
        DIMENSIONS[:4], (-0.5, -0.25, 0.1, -0.12), strict=True)]
    result = evaluate_gate(records, GateSettings({"default": 0.1}))
    p = [student_t.cdf((x + 0.1) / 0.1, 19.0) for x in (-0.5, -0.25, 0.1, -0.12)]
    np.testing.assert_allclose([v.p_value for v in result.verdicts], p, rtol=1e-12)
    np.testing.assert_allclose([v.p_holm for v in result.verdicts],
                               multipletests(p, method="holm")[1], rtol=1e-12)
    assert [v.status for v in result.verdicts] == ["regression", "pass", "pass", "pass"]
    assert result.exit_code == 1
    assert result.verdicts[0].upper == pytest.approx(-0.5 + student_t.ppf(0.95, 19) * 0.1)


def test_within_tolerance_passes_and_a_tolerance_can_differ_per_dimension():
    records = [_record("model_training", -0.5), _record("data_exploration", -0.5)]
    result = evaluate_gate(records, GateSettings({"model_training": 1.0, "default": 0.0}))
    assert [v.status for v in result.verdicts] == ["pass", "regression"]
    assert evaluate_gate(records[:1], GateSettings({"default": 1.0})).exit_code == 0


@pytest.mark.parametrize(("record", "reason"), [
    (_record(n_cases=10), "10 cases, fewer than 20"),
    (_record(failure=(0.0, 0.2)), r"judge failure rate over 5.0% \(new 20.0%\)"),
    (_record(se=None, df=None), "no interval"),
])
def test_cannot_decide(record, reason):
    result = evaluate_gate([record], GateSettings({"default": 0.1}))
    assert result.exit_code == 2
    assert result.verdicts[0].status == "undecided"
    assert re.search(reason, result.verdicts[0].reason)


def test_a_decided_regression_outranks_an_undecided_dimension():
    records = [_record("model_training", -0.9), _record("model_use", n_cases=5)]
    assert evaluate_gate(records, GateSettings({"default": 0.1})).exit_code == 1


def test_ppi_is_used_where_experts_graded_and_flags_are_reported():
    # The judge alone sees no drop; the experts' PPI estimate shows one.
    record = _record(difference=0.0, ppi=_ppi(-0.6, outside=True))
    auto = evaluate_gate([record], GateSettings({"default": 0.1}))
    assert (auto.verdicts[0].source, auto.exit_code) == ("ppi", 1)
    assert "outside the PPI interval" in auto.markdown()
    judge = evaluate_gate([record], GateSettings({"default": 0.1}, source="judge"))
    assert (judge.verdicts[0].source, judge.exit_code) == ("judge", 0)
    ungraded = evaluate_gate([_record()], GateSettings({"default": 0.1}, source="ppi"))
    assert ungraded.verdicts[0].reason == "no expert grades on these arms (source ppi)"
    few = evaluate_gate([_record(ppi=_ppi(-0.6, df=4.0))], GateSettings({"default": 0.1}))
    assert (few.exit_code, few.verdicts[0].reason) == (
        2, "5 cases with expert grades, fewer than 10")


def test_summary_and_junit():
    records = [_record("model_training", -0.9), _record("model_use", 0.1),
               _record("data_imputation", n_cases=3)]
    result = evaluate_gate(records, GateSettings({"default": 0.1}))
    assert result.markdown().startswith("## nbjudge gate: FAIL: regression beyond tolerance "
                                        "on model_training (new vs old)")
    suite = ElementTree.fromstring(result.junit()).find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("3", "1", "1")
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert cases["model_training"].find("failure") is not None
    assert cases["model_use"].find("failure") is None and cases["model_use"].find("error") is None
    assert "3 cases" in cases["data_imputation"].find("error").get("message")


def test_tolerances_from_text_and_yaml(tmp_path):
    assert parse_tolerances("model_use=0.2, default=0.1") == {"model_use": 0.2, "default": 0.1}
    params = tmp_path / "params.yaml"
    params.write_text("compare:\n  gate:\n    tolerances:\n      default: 0.15\n")
    assert parse_tolerances(f"{params}:compare.gate.tolerances") == {"default": 0.15}
    with pytest.raises(InputError, match=r"no key 'compare\.tolerances'"):
        parse_tolerances(f"{params}:compare.tolerances")
    with pytest.raises(InputError, match="no such file, and not of the form"):
        parse_tolerances("tolerances.yaml")
    with pytest.raises(InputError, match="tolerance of 'model_use' is not a number"):
        parse_tolerances("model_use=lots")
    with pytest.raises(InputError, match="no tolerance for dimension 'model_training'"):
        evaluate_gate([_record()], GateSettings({"model_use": 0.1}))
    with pytest.raises(InputError, match="must be a number of score points in"):
        GateSettings({"default": -0.1})


@pytest.fixture
def results(tmp_path):
    """Records of a real comparison: 25 cases x 2 notebooks, the candidate 0.8 worse on the
    first dimension only."""
    rng = np.random.default_rng(0)
    judge = np.clip(np.rint(2 + rng.normal(0, 0.6, (2, 25, 2, len(DIMENSIONS)))), 1, 3)
    judge[1, :, :, 0] = np.clip(judge[1, :, :, 0] - 1, 1, 3)
    path = tmp_path / "comparisons.jsonl"
    write_records(path, compare_arms(judge, arms=["old", "new"], dimensions=DIMENSIONS,
                                     mdd=False, rng=rng).to_records())
    return path


def test_command_line_exit_codes_summary_and_junit(results, tmp_path, capsys):
    summary, junit = tmp_path / "gate.md", tmp_path / "gate.xml"
    code = main(["gate", str(results), "--tolerances", "default=0.1", "--summary",
                 str(summary), "--junit", str(junit)])
    assert code == 1
    assert summary.read_text().startswith("## nbjudge gate: FAIL")
    assert "library_installation" in capsys.readouterr().out
    assert len(list(ElementTree.parse(junit).iter("testcase"))) == len(DIMENSIONS)
    assert main(["gate", str(results), "--tolerances", "library_installation=1.5,"
                 "default=0.5"]) == 0
    assert main(["gate", str(results), "--tolerances", "default=0.5", "--min-cases",
                 "30"]) == 2


def test_command_line_errors_exit_2(tmp_path, capsys):
    assert main(["gate", str(tmp_path / "missing.jsonl"), "--tolerances", "default=0.1"]) == 2
    assert "file not found" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"reference": "a"}\n')
    assert main(["gate", str(bad), "--tolerances", "default=0.1"]) == 2
    assert "invalid ArmComparison" in capsys.readouterr().err


def _params(path, **gate):
    path.write_text(yaml.safe_dump({"compare": {"arms": {}, "gate": gate}}))
    return str(path)


def test_settings_come_from_params_and_options_override_them(results, tmp_path, capsys):
    strict = _params(tmp_path / "strict.yaml", tolerances={"default": 0.1})
    assert main(["gate", str(results), "--params", strict]) == 1
    assert "| -0.100 |" in capsys.readouterr().out
    assert main(["gate", str(results), "--params", strict, "--tolerances", "default=1.5"]) == 0
    assert "| -1.500 |" in capsys.readouterr().out
    few = _params(tmp_path / "few.yaml", tolerances={"default": 0.1}, min_cases=30)
    assert main(["gate", str(results), "--params", few]) == 2
    assert "25 cases, fewer than 30" in capsys.readouterr().out
    assert main(["gate", str(results), "--params", few, "--min-cases", "20"]) == 1
    lenient = _params(tmp_path / "lenient.yaml",
                      tolerances={"library_installation": 1.5, "default": 0.5})
    assert main(["gate", str(results), "--params", lenient]) == 0


def test_default_results_and_params_in_the_working_directory(results, tmp_path,
                                                             monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data/compare").mkdir(parents=True)
    results.rename(tmp_path / "data/compare/comparisons.jsonl")
    # No params.yaml: compare.gate's defaults (tolerance 0.25 points) judge the 0.8 drop.
    assert main(["gate", "--junit", "gate.xml"]) == 1
    assert "| -0.250 |" in capsys.readouterr().out
    assert (tmp_path / "gate.xml").is_file()
    _params(tmp_path / "params.yaml", tolerances={"default": 2.0})
    assert main(["gate"]) == 0


def test_params_problems_exit_2_and_name_the_key(results, tmp_path, capsys):
    assert main(["gate", str(results), "--params", str(tmp_path / "none.yaml")]) == 2
    assert "none.yaml" in capsys.readouterr().err
    typo = _params(tmp_path / "typo.yaml", tolerances={"model_trainin": 0.1})
    assert main(["gate", str(results), "--params", typo]) == 2
    assert "did you mean `model_training`?" in capsys.readouterr().err


def test_an_empty_comparison_cannot_decide(tmp_path, capsys):
    """With no arms the compare stages write an empty file: CI must not read it as a pass."""
    empty = tmp_path / "comparisons.jsonl"
    empty.write_text("")
    assert main(["gate", str(empty), "--tolerances", "default=0.1"]) == 2
    assert "no arms were compared: set compare.arms" in capsys.readouterr().err
