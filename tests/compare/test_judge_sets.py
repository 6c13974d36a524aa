"""`compare.judges`: any judge variant of the experiment, each with its own cached answers.

The registered judges come from the shared loader (``registered_dimension_judges``, which
needs an MLflow store with aligned judges: the pipeline test and tests/alignment run it for
real); here it is replaced by judges that carry what a registered MemAlign judge carries
(instructions with distilled guidelines, a memory key), to check what each set builds from
them and the request keys the answer cache files their answers under.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from nbjudge.alignment.final import LoadedJudges
from nbjudge.compare.judging import JUDGE_SETS, compare_plan, load_judge_set
from nbjudge.config import compose_params
from nbjudge.errors import ConfigError, InputError
from nbjudge.judges.batch import baseline_judges
from nbjudge.judges.requests import DimensionJudge, NotebookView, build_requests
from nbjudge.llm.config import inference_params, judge_model_uri
from nbjudge.params import load_params, need
from nbjudge.robustness.suite import judge_sets
from testing.stage_runs import ROOT

GUIDELINE = "Prefer imputers fit on the training split."


@pytest.fixture
def settings(tmp_path):
    compose_params(tmp_path / "params.yaml", [], ROOT / "conf")
    params = load_params(tmp_path / "params.yaml")
    judge = {**params.judge_settings(), "cache_dir": str(tmp_path / "answers")}
    return need(params.llm, "llm"), judge


@pytest.fixture
def registered(settings, monkeypatch):
    """The loader returns judges shaped as registered MemAlign judges."""
    llm, _ = settings
    judges = {}
    for dimension, base in baseline_judges(llm).items():
        aligned = SimpleNamespace(instructions=f"{base.instructions}\n\n{GUIDELINE}")
        judges[dimension] = DimensionJudge(
            dimension, base.instructions, judge=aligned,
            memory={"guidelines": [GUIDELINE], "episodic_ids": ["nb1", "nb2"],
                    "retrieval_k": 2, "embedding_model": "hashing",
                    "registered": f"nbjudge_{dimension}@3"},
            examples_per_prompt=2, notebook_of={"tr-1": "nb1", "tr-2": "nb2"})
    loaded = LoadedJudges(judges, dict.fromkeys(judges, 2), embeddings=True)
    monkeypatch.setattr("nbjudge.alignment.final.registered_dimension_judges",
                        lambda *args, **kwargs: loaded)
    return loaded


VIEWS = [NotebookView(f"case{n}__01", f"case{n}", f"Task {n}",
                      f"# Task prompt\n\nTask {n}\n\n# Notebook\n\nmodel.fit(X{n})\n")
         for n in range(3)]


def _keys(judge_set, llm):
    return {r.key for r in build_requests(VIEWS, judge_set.judges, variant=judge_set.name,
                                          model=judge_model_uri(llm),
                                          inference_params=inference_params(llm))}


def test_every_variant_of_the_experiment_is_a_judge_set_with_its_own_answers(
        settings, registered, tmp_path):
    llm, judge = settings
    assert set(JUDGE_SETS) == {"registered", "full", "semantic_only", "baseline", "calibrated",
                               "calibrated_full"}
    sets = {name: load_judge_set(name, llm, judge, tmp_path / "judges.json")
            for name in JUDGE_SETS}
    keys = {name: _keys(s, llm) for name, s in sets.items()}
    assert all(len(k) == len(VIEWS) * 9 for k in keys.values())
    for a, b in [("registered", "semantic_only"), ("registered", "baseline"),
                 ("semantic_only", "baseline")]:
        assert not keys[a] & keys[b], (a, b)
    # full is the registered judges under the experiment's name: the same prompts, the
    # same answers (judged once)
    assert keys["full"] == keys["registered"]
    assert sets["full"].judges == registered.judges
    # a calibrated set asks what the judges it calibrates ask: their cached answers are its
    assert keys["calibrated"] == keys["baseline"]
    assert keys["calibrated_full"] == keys["registered"]
    assert "calibrated on every expert label (calibrated_full)" in sets[
        "calibrated_full"].description

    semantic = sets["semantic_only"]
    assert not semantic.embeddings and sets["registered"].embeddings
    for dimension, judge_ in semantic.judges.items():
        # the guidelines are in its instructions, neutralised as a notebook's text is;
        # no memory, no retrieved examples, an MLflow judge built when a backend opens
        assert judge_.instructions.startswith(registered.judges[dimension].instructions)
        assert "training split" in judge_.instructions
        assert judge_.memory is None and judge_.examples_per_prompt == 0
        assert judge_.judge is None

    bounds = {name: compare_plan(VIEWS, llm, judge, s).lines[0].bound
              for name, s in sets.items()}
    # an aligned judge's retrieved examples are estimated; the others' prompts are exact
    assert bounds == {"registered": "estimate", "full": "estimate", "semantic_only": "exact",
                      "baseline": "exact", "calibrated": "exact", "calibrated_full": "estimate"}


def test_an_unknown_judge_set_is_a_config_error_naming_the_choices(settings, tmp_path):
    compose_params(tmp_path / "bad.yaml", ["compare.judges=aligned"], ROOT / "conf")
    with pytest.raises(ConfigError, match=r"compare\.judges") as error:
        load_params(tmp_path / "bad.yaml")
    assert all(f"'{name}'" in str(error.value) for name in JUDGE_SETS)
    llm, judge = settings
    with pytest.raises(ConfigError, match="registered, full, semantic_only, baseline"):
        load_judge_set("aligned", llm, judge, tmp_path / "judges.json")


def test_a_missing_registration_names_the_setting_to_change(settings, tmp_path):
    llm, judge = settings
    for name in ("registered", "semantic_only"):
        with pytest.raises(InputError, match=rf"no registration record; compare.judges={name} "
                                             r".*compare.judges=baseline"):
            load_judge_set(name, llm, judge, tmp_path / "judges.json")
    # baseline needs no registration
    assert len(load_judge_set("baseline", llm, judge, tmp_path / "judges.json").judges) == 9
    # the robustness suite's loader says what to change in its own settings
    with pytest.raises(InputError, match=r"robustness\.judges registered and semantic_only"):
        judge_sets(["registered"], llm, judge, tmp_path / "judges.json", ["model_use"], True)
