"""Arms of a comparison: compare.arms parsed and checked (nbjudge.compare.arms)."""

from __future__ import annotations

import pytest

from nbjudge.compare.arms import ImportArm, LlmArm, ProceduralArm, parse_arms, reference_arm
from nbjudge.compare.build import match_case
from nbjudge.config import compose_params
from nbjudge.errors import ConfigError
from nbjudge.params import CompareParams, load_params
from testing.stage_runs import ROOT


def _compare(arms, **rest):
    return CompareParams.model_validate({"arms": arms, **rest})


def test_no_arms_is_off():
    assert parse_arms(None) == ()
    assert parse_arms(_compare({})) == ()


def test_the_default_and_the_demo_compose(tmp_path):
    compose_params(tmp_path / "none.yaml", [], ROOT / "conf")
    assert parse_arms(load_params(tmp_path / "none.yaml").compare) == ()
    compose_params(tmp_path / "demo.yaml", ["compare=demo"], ROOT / "conf")
    params = load_params(tmp_path / "demo.yaml")
    arms = parse_arms(params.compare)
    assert [a.name for a in arms] == ["reference", "candidate"]
    assert all(isinstance(a.settings, ProceduralArm) for a in arms)
    reference, candidate = (a.settings.levels.per_dimension for a in arms)
    changed = {d for d in reference if reference[d] != candidate.get(d)}
    assert changed == {"data_imputation", "mlflow_logging"}
    assert arms[0].settings.levels.default == arms[1].settings.levels.default
    # the gate settings still compose with the group
    assert params.compare.gate.tolerances == {"default": 0.25}
    assert params.compare.grades.source == "panel"


def test_two_import_arms():
    arms = parse_arms(_compare({"v1": {"backend": "import", "path": "runs/v1"},
                                "v2": {"backend": "import", "path": "runs/v2",
                                       "mapping": "runs/v2_cases.yaml"}},
                               reference="v1"))
    assert [type(a.settings) for a in arms] == [ImportArm, ImportArm]
    assert arms[1].settings.mapping == "runs/v2_cases.yaml"
    assert reference_arm(arms, None) == "v1"


def test_llm_arm_takes_the_writer_settings_and_never_logs_a_key():
    arms = parse_arms(_compare({
        "gpt": {"backend": "llm", "notebooks_per_case": 3, "temperature": 0.2,
                "writer": {"backend": "openai", "model": "gpt-4o-mini",
                           "api_key_env": "OPENAI_API_KEY", "api_key": "sk-secret"}},
        "local": {"backend": "llm"}}))
    assert isinstance(arms[0].settings, LlmArm)
    assert arms[0].settings.notebooks_per_case == 3
    logged = arms[0].params()
    assert logged["writer.api_key_env"] == "OPENAI_API_KEY"
    assert "sk-secret" not in str(logged)


@pytest.mark.parametrize(("arms", "reference", "message"), [
    ({"a": {"backend": "git"}, "b": {"backend": "import", "path": "x"}}, None,
     "compare.arms.a.backend: expected one of import, llm, procedural"),
    ({"a": {"backend": "import"}, "b": {"backend": "import", "path": "x"}}, None,
     "`compare.arms.a.path` is required"),
    ({"a": {"backend": "procedural", "level": {}}, "b": {"backend": "procedural"}}, None,
     "unknown key `compare.arms.a.level`"),
    ({"a": {"backend": "procedural", "levels": {"default": [0.5, 0.5, 0.5]}},
      "b": {"backend": "procedural"}}, None, "compare.arms.a.levels.default"),
    ({"a": {"backend": "procedural", "notebooks_per_case": 0},
      "b": {"backend": "procedural"}}, None, "compare.arms.a.notebooks_per_case"),
    ({"only": {"backend": "procedural"}}, None, "needs at least two"),
    ({"a__b": {"backend": "procedural"}, "c": {"backend": "procedural"}}, None, "rename it"),
    ({"a": {"backend": "procedural"}, "b": {"backend": "procedural"}}, "c",
     "compare.reference is 'c', which is not an arm"),
])
def test_bad_arms_are_refused_naming_the_key(arms, reference, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("[", r"\[")):
        parse_arms(_compare(arms, reference=reference))


def test_grades_file_needs_a_path(tmp_path):
    with pytest.raises(ConfigError, match=r"set grades\.path"):
        compose_params(tmp_path / "p.yaml", ["compare=demo", "compare.grades.source=file"],
                       ROOT / "conf")
        load_params(tmp_path / "p.yaml")


@pytest.mark.parametrize(("notebook", "file", "expected"), [
    ("titanic_survival__3", "titanic_survival__3.ipynb", "titanic_survival"),
    ("titanic_survival_run7", "titanic_survival_run7.ipynb", "titanic_survival"),
    ("churn__a", "churn__a.ipynb", "churn"),           # unknown case: the name before '__'
    ("notebook", "notebook.ipynb", "imported_case"),   # nothing to go by: the importer's
])
def test_import_notebooks_match_cases_by_name(notebook, file, expected):
    known = ["titanic", "titanic_survival", "house_prices"]
    assert match_case(notebook, file, "imported_case", mapping={}, known=known,
                      explicit=False) == expected


def test_a_mapping_file_or_a_stated_case_wins():
    assert match_case("titanic_survival__1", "titanic_survival__1.ipynb", "x",
                      mapping={"titanic_survival__1.ipynb": "house_prices"}, known=[],
                      explicit=False) == "house_prices"
    assert match_case("titanic_survival__1", "f.ipynb", "stated", mapping={},
                      known=["titanic_survival"], explicit=True) == "stated"
    with pytest.raises(Exception, match="not in the arm's mapping file"):
        match_case("a", "a.ipynb", "x", mapping={"b.ipynb": "c"}, known=[], explicit=False)
