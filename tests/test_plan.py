"""Know before you send: the plan of requests, tokens and money, and the caps it enforces.

The slow test is the issue's "done when": `python -m nbjudge plan` gives the
bench50 plan for `llm=openai` offline (no key, no server), and a scripted run
of the judge stage then sends exactly the planned requests with exactly the
planned prompt tokens; after it, the plan finds every answer in the cache.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from nbjudge.judges.requests import NotebookView
from nbjudge.llm.backends import LLMConfig
from nbjudge.llm.tokens import tokenizer_for
from nbjudge.plan import (
    PlanExceedsBudgetError,
    announce,
    check_budget,
    format_plans,
    plan_line,
    total_cost,
)
from nbjudge.runlog import RUNLOG_ROOT, runlog_path
from nbjudge.schemas import StagePlan, read_json_record

ROOT = Path(__file__).resolve().parents[1]


def _llm(name: str = "openai", **overrides) -> LLMConfig:
    settings = yaml.safe_load((ROOT / "conf" / "llm" / f"{name}.yaml").read_text())
    settings.update({"model": "gpt-4o-mini", "base_url": "http://127.0.0.1:9/v1"}
                    if name == "openai_compatible" else {})
    settings.update(overrides)
    return LLMConfig.from_mapping(settings)


def _plan(price=(1e-6, 2e-6), requests=10, cached=0, prompt=1000, reply=100) -> StagePlan:
    line = plan_line(what="judge requests", model="openai:/gpt-4o-mini", price=price,
                     prompt_tokens=[prompt] * requests, reply_tokens=[reply] * requests,
                     cached=[i < cached for i in range(requests)], bound="exact")
    return StagePlan(stage="judge", tokenizer="o200k_base", lines=[line])


def test_a_line_counts_only_uncached_requests_as_sent_and_prices_them():
    plan = _plan(requests=10, cached=4, prompt=1000, reply=100)
    line = plan.lines[0]
    assert (line.requests, line.cached, line.to_send) == (10, 4, 6)
    assert (line.prompt_tokens, line.send_prompt_tokens) == (10_000, 6_000)
    assert line.cost == pytest.approx(6_000 * 1e-6 + 600 * 2e-6)


def test_an_unknown_price_is_unknown_never_zero():
    plan = _plan(price=None)
    assert plan.lines[0].cost is None and total_cost(plan.lines) is None
    table = format_plans([plan])
    assert "unknown" in table
    row = re.split(r"\s{2,}", next(r for r in table.splitlines() if r.startswith("judge")))
    assert row[-3:] == ["unknown", "unknown", "exact"]    # price, cost, bound


def test_a_free_local_model_costs_zero_and_a_total_adds_stages():
    free = _plan(price=(0.0, 0.0))
    paid = _plan(price=(1e-6, 2e-6))
    assert total_cost(free.lines) == 0
    assert total_cost([*free.lines, *paid.lines]) == pytest.approx(paid.lines[0].cost)
    table = format_plans([free, paid])
    total = re.split(r"\s{2,}", next(r for r in table.splitlines() if r.startswith("total")))
    assert total[1] == "20" and float(total[-2]) == pytest.approx(paid.lines[0].cost, abs=1e-4)


def test_a_request_cap_below_the_plan_stops_before_sending_with_the_plans_numbers(tmp_path):
    llm = _llm(max_requests=5)
    plan = _plan(requests=45, cached=3)
    with pytest.raises(PlanExceedsBudgetError) as caught:
        announce(plan, llm, tmp_path / "plan.json")
    message = str(caught.value)
    assert "llm.max_requests=5" in message and "42 requests to send" in message
    assert "3 answered from the cache" in message and "nothing was sent" in message
    assert "-S llm.max_requests=42" in message
    # the plan is kept for the report even when the stage stops
    assert read_json_record(tmp_path / "plan.json", StagePlan).lines[0].requests == 45


def test_a_cost_cap_below_the_plan_stops_and_one_above_passes():
    plan = _plan(requests=100, prompt=10_000, reply=600)   # 100 * (0.01 + 0.0012) = 1.12
    with pytest.raises(PlanExceedsBudgetError, match=r"max_cost=1.*up to 1\.1200"):
        check_budget(plan, _llm(max_cost=1.0))
    check_budget(plan, _llm(max_cost=1.2))
    check_budget(_plan(requests=100, cached=100), _llm(max_cost=0.001, max_requests=1))


def test_a_cost_cap_with_no_known_price_stops_instead_of_counting_it_free():
    with pytest.raises(PlanExceedsBudgetError, match="no price"):
        check_budget(_plan(price=None), _llm(max_cost=100.0))


def test_tokens_are_counted_with_the_models_tokenizer_offline():
    exact = tokenizer_for("openai:/gpt-4o-mini")
    assert exact.exact and exact.encoding == "o200k_base"
    other = tokenizer_for("hosted_vllm:/my-model")
    assert not other.exact and "approximation" in other.description
    text = "def fit(X, y):\n    return model.fit(X, y)\n" * 20
    assert exact.messages([{"role": "user", "content": text}]) == exact.text(text) + 3 + 1 + 3


def _views(n: int = 3) -> list[NotebookView]:
    return [NotebookView(f"case{i}__01", f"case{i}", f"Task {i}",
                         f"# Task prompt\n\nTask {i}\n\n# Notebook\n\n```python\nx = {i}\n```\n")
            for i in range(n)]


def test_the_judge_plan_uses_the_runs_cache_keys(tmp_path):
    from nbjudge.judges.batch import baseline_judges
    from nbjudge.judges.requests import build_requests
    from nbjudge.llm.backends import inference_params, judge_model_uri
    from nbjudge.llm.cache import AnswerCache
    from nbjudge.plan.judging import judging_plan

    llm = _llm()
    judge = {"cache_dir": str(tmp_path / "answers")}
    views = _views()
    before = judging_plan(views, llm, judge).lines[0]
    assert (before.requests, before.cached) == (27, 0)
    assert before.bound == "exact" and before.input_price and before.cost
    assert before.reply_tokens == 27 * llm.max_output_tokens
    requests = build_requests(views, baseline_judges(llm), variant="baseline",
                              model=judge_model_uri(llm), inference_params=inference_params(llm))
    with AnswerCache(tmp_path / "answers") as cache:
        for request in requests[:5]:
            cache.put(request.key, {"value": 2})
    after = judging_plan(views, llm, judge).lines[0]
    assert (after.requests, after.cached, after.to_send) == (27, 5, 22)
    assert after.send_prompt_tokens < after.prompt_tokens == before.prompt_tokens


def test_alignment_plans_are_upper_bounds_that_say_so():
    from nbjudge.alignment.memalign import MemAlignSettings
    from nbjudge.plan.judging import Fold, alignment_plan
    from nbjudge.schemas import DIMENSIONS, Label

    views = _views(4)
    labels = [Label(notebook_id=v.notebook_id, dimension=d, score=2, rationale="fine",
                    rater_id="a", source="simulated") for v in views for d in DIMENSIONS]
    ids = [v.notebook_id for v in views]
    folds = [Fold(0, f, [i for i in ids if i != ids[f]], [ids[f]]) for f in range(4)]
    plan = alignment_plan(views, labels, folds, _llm(), MemAlignSettings(retrieval_k=1),
                          "full")
    by_what = {line.what: line for line in plan.lines}
    assert by_what["judge requests"].requests == 4 * 9 and by_what["judge requests"].cached == 0
    assert by_what["distillation"].requests == 4 * 9      # 3 examples: one batch each
    assert by_what["embeddings"].requests == 4 * 9 + 4 * 9  # each memory, each retrieval
    assert {line.bound for line in plan.lines} == {"upper"}
    semantic = alignment_plan(views, labels, folds, _llm(embedding_model="hashing"),
                              MemAlignSettings(retrieval_k=1), "semantic_only")
    assert "embeddings" not in {line.what for line in semantic.lines}
    assert (semantic.lines[0].prompt_tokens < by_what["judge requests"].prompt_tokens)


def _curve_assignment(n: int = 8):
    from nbjudge.alignment.folds import assign_folds

    return assign_folds([(f"case{i}__01", f"case{i}", "binary") for i in range(n)],
                        4, seed=3)


def test_the_curve_plan_bounds_every_fraction_and_model_judged_variant():
    from nbjudge.alignment.curve import curve_splits
    from nbjudge.alignment.memalign import MemAlignSettings
    from nbjudge.plan.judging import curve_plan
    from nbjudge.schemas import DIMENSIONS, Label

    views = _views(8)
    labels = [Label(notebook_id=v.notebook_id, dimension=d, score=2, rationale="fine",
                    rater_id="a", source="simulated") for v in views for d in DIMENSIONS]
    assignment = _curve_assignment()
    splits = curve_splits([assignment], [0.5, 1.0], seed=0)
    # nested: every fold's labelled share at 0.5 lies within its share at 1.0
    for (half, held), (whole, held_too) in zip(splits[0.5], splits[1.0], strict=True):
        assert set(half) <= set(whole) and held == held_too
    assert [len(train) for train, _ in splits[1.0]] == [6] * 4
    plan = curve_plan(views, labels, splits, ["full", "semantic_only", "calibrated"], _llm(),
                      MemAlignSettings(retrieval_k=1))
    assert plan.stage == "curve"
    by_what = {line.what: line for line in plan.lines}
    assert set(by_what) == {"judge requests (full)", "distillation (full)", "embeddings (full)",
                            "judge requests (semantic_only)", "distillation (semantic_only)",
                            "embeddings (semantic_only)"}   # calibrated asks no model
    # two fractions x 8 held-out notebooks x 9 dimensions, for each variant
    assert by_what["judge requests (full)"].requests == 2 * 8 * 9
    assert by_what["distillation (full)"].requests == 2 * 4 * 9   # one batch per fold
    assert {line.bound for line in plan.lines} == {"upper"}
    assert (by_what["judge requests (semantic_only)"].prompt_tokens
            < by_what["judge requests (full)"].prompt_tokens)       # no retrieved examples
    with pytest.raises(PlanExceedsBudgetError, match="max_requests"):
        check_budget(plan, _llm(max_requests=100))
    calibrated_only = curve_plan(views, labels, splits, ["calibrated"], _llm(),
                                 MemAlignSettings(retrieval_k=1))
    assert calibrated_only.lines == []


# --- the "done when": bench50 planned offline, then a scripted run ---------------------

def _repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    for name in ("conf", "rubrics", "prompts"):
        shutil.copytree(ROOT / name, repo / name)
    (repo / "data" / "suites").mkdir(parents=True)
    shutil.copy(ROOT / "data" / "suites" / "bench50.yaml", repo / "data" / "suites")
    return repo


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.endswith("_API_KEY") and k not in ("DATABRICKS_TOKEN", "DATABRICKS_HOST")}
    env.update({"PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
                "LITELLM_LOCAL_MODEL_COST_MAP": "True", "MLFLOW_MODEL_CATALOG_URI": "",
                **extra})
    return env


def _run(repo: Path, *args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run([sys.executable, *args], cwd=repo, env=env or _env(),
                          capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def _judge_row(output: str) -> list[str]:
    row = next(line for line in output.splitlines() if line.startswith("judge "))
    return re.split(r"\s{2,}", row.strip())


@pytest.mark.slow
def test_bench50_plan_offline_matches_what_a_scripted_run_sends(tmp_path):
    from testing.fault_server import FaultServer
    from testing.scripted_alignment import is_judge_request
    from testing.stage_runs import stage_command

    repo = _repo(tmp_path)
    py = "-m"
    _run(repo, py, "nbjudge.config", "suite=bench50", "llm=openai")
    _run(repo, *stage_command("cases")[1:])
    _run(repo, *stage_command("generate")[1:])
    _run(repo, *stage_command("label")[1:])
    _run(repo, *stage_command("folds")[1:])
    # The judges read the notebooks as written (executing 50 notebooks is the execute
    # stage's test): the plan and the run are pointed at the same index.
    (repo / "data" / "notebooks" / "executed").mkdir(parents=True)
    shutil.copy(repo / "data" / "notebooks" / "index.jsonl",
                repo / "data" / "notebooks" / "executed" / "index.jsonl")

    # 1. the plan for llm=openai: offline, no key in the environment
    output = _run(repo, py, "nbjudge", "plan", "-S", "llm=openai", "-S", "suite=bench50")
    row = _judge_row(output)
    # stage, requests, what, cached, to send, prompt tokens, reply tokens, price, cost, bound
    assert row[1] == "450" and row[3] == "0" and row[4] == "450" and row[-1] == "exact"
    planned_prompt = int(row[5].replace(",", ""))
    assert int(row[6].replace(",", "")) == 450 * 600
    assert row[7] == "0.15/0.6" and float(row[8]) > 0
    for stage in ("align@full", "align@semantic_only", "register"):
        assert any(line.startswith(stage) for line in output.splitlines()), stage
    assert re.search(r"^total\s", output, re.MULTILINE)
    assert not any(line.startswith("curve") for line in output.splitlines())  # off
    with_curve = _run(repo, py, "nbjudge", "plan", "-S", "llm=openai", "-S", "suite=bench50",
                      "-S", "curve.fractions=[0.5,1.0]")
    curve_rows = [line for line in with_curve.splitlines() if line.startswith("curve")]
    assert any("judge requests (full)" in line for line in curve_rows), with_curve
    assert any("distillation (semantic_only)" in line for line in curve_rows), with_curve

    # 2. the same requests sent to a scripted OpenAI-compatible server
    same = ["-S", "llm=openai_compatible", "-S", "llm.model=gpt-4o-mini",
            "-S", "llm.context_size=128000", "-S", "suite=bench50"]
    with FaultServer() as server:
        overrides = [*same, "-S", f"llm.base_url={server.base_url}"]
        _run(repo, py, "nbjudge.config", *[o for o in overrides if o != "-S"])
        plan_before = _run(repo, py, "nbjudge", "plan")
        assert _judge_row(plan_before)[3:5] == ["0", "450"]
        # a cap below the plan: the stage stops before sending, with the plan's numbers
        _run(repo, py, "nbjudge.config", *[o for o in overrides if o != "-S"],
             "llm.max_requests=100")
        capped = subprocess.run([sys.executable, *stage_command("judge")[1:]], cwd=repo,
                                env=_env(), capture_output=True, text=True, timeout=1200)
        assert capped.returncode == 1 and server.count == 0, capped.stderr[-2000:]
        assert "llm.max_requests=100" in capped.stderr
        assert f"450 requests to send (0 answered from the cache), {planned_prompt:,} prompt " \
               "tokens, at most 270,000 reply tokens" in capped.stderr
        _run(repo, py, "nbjudge.config", *[o for o in overrides if o != "-S"])
        stage_output = _run(repo, *stage_command("judge")[1:])
        sent = list(server.bodies)
    assert "plan of judge" in stage_output
    assert len(sent) == 450
    assert all(is_judge_request(b) for b in sent)
    tokenizer = tokenizer_for("openai:/gpt-4o-mini")
    assert sum(tokenizer.messages(b["messages"]) for b in sent) == planned_prompt
    assert {b.get("max_tokens") for b in sent} == {600}
    record = read_json_record(repo / "data" / "judgments" / "baseline.plan.json", StagePlan)
    assert record.lines[0].requests == 450 and record.lines[0].prompt_tokens == planned_prompt
    # what the cache held is the run's, not the output's: the runlog keeps it beside the file
    assert record.lines[0].cached is None and record.lines[0].send_prompt_tokens is None
    side = runlog_path("data/judgments/baseline.plan.json", repo / RUNLOG_ROOT)
    logged = [json.loads(line) for line in side.read_text().splitlines()]
    assert logged == [{"stage": "judge", "lines.0.cached": 0,
                       "lines.0.send_prompt_tokens": planned_prompt,
                       "lines.0.send_reply_tokens": 450 * 600}]
    assert record.lines[0].input_price is None          # a self-hosted server: unknown
    assert "unknown" in _judge_row(stage_output.replace("plan of judge:\n", ""))

    # 3. after the run the plan finds every answer in the cache: the keys are the run's
    after = _judge_row(_run(repo, py, "nbjudge", "plan"))
    assert after[3:5] == ["450", "0"]


def test_the_report_reads_the_plans_and_sets_planned_against_actual(tmp_path):
    from types import SimpleNamespace

    from nbjudge.report.inputs import read_plans
    from nbjudge.report.sections.costs import planned_cost
    from nbjudge.schemas import AlignmentAudit, Judgment, write_json_record

    judge_plan = _plan(requests=2, prompt=1000, reply=100)
    align_line = plan_line(what="distillation", model="openai:/gpt-4o-mini", price=None,
                           prompt_tokens=[5000], reply_tokens=[16384], bound="upper")
    write_json_record(tmp_path / "judgments" / "baseline.plan.json", judge_plan)
    write_json_record(tmp_path / "alignment" / "full" / "plan.json",
                      StagePlan(stage="align@full", tokenizer="o200k_base", lines=[align_line]))
    plans = read_plans(tmp_path / "judgments", tmp_path / "alignment")
    assert [p.stage for p in plans] == ["judge", "align@full"]
    judgments = [Judgment(notebook_id=f"n{i}", dimension="data_imputation", variant="baseline",
                          status="ok", score=2, model="openai:/gpt-4o-mini",
                          tokens_in=900, tokens_out=40) for i in range(2)]
    audit = AlignmentAudit(variant="full", fold=0, dimension="data_imputation", guidelines=[],
                           episodic_ids=[], seconds=1.0, retrieval_k=1, reflection_model="x",
                           tokens={"calls": 1, "prompt": 4200, "completion": 300})
    rows = planned_cost(SimpleNamespace(plans=plans, judgments=judgments, alignment=[audit]))
    judge, distill = rows
    assert (judge.planned_requests, judge.requests) == ("2", "2")
    assert (judge.planned_in, judge.tokens_in, judge.tokens_out) == (
        "2,000", "1,800", "80")
    assert judge.planned_cost == f"{2000 * 1e-6 + 200 * 2e-6:.4f}"
    assert judge.cost == f"{1800 * 1e-6 + 80 * 2e-6:.4f}"
    assert (distill.tokens_in, distill.planned_cost, distill.cost) == (
        "4,200", "unknown", "unknown")

    # the curve stage's plan, beside its own judgments and audits (variant@fraction)
    curve_line = plan_line(what="judge requests (full)", model="openai:/gpt-4o-mini",
                           price=(1e-6, 2e-6), prompt_tokens=[1000] * 4,
                           reply_tokens=[100] * 4, bound="upper")
    write_json_record(tmp_path / "curve" / "plan.json",
                      StagePlan(stage="curve", tokenizer="o200k_base", lines=[curve_line]))
    plans = read_plans(tmp_path / "judgments", tmp_path / "alignment", tmp_path / "curve")
    assert [p.stage for p in plans] == ["judge", "align@full", "curve"]
    curve_judgments = [j.model_copy(update={"variant": f"full@{q}"})
                       for q in ("0.5", "1") for j in judgments]
    curve_judgments += [j.model_copy(update={"variant": "semantic_only@1"}) for j in judgments]
    rows = planned_cost(SimpleNamespace(plans=plans, judgments=judgments, alignment=[audit],
                                        curve_judgments=curve_judgments, curve_alignment=[]))
    curve = rows[-1]
    assert (curve.stage, curve.planned_requests, curve.requests) == ("curve", "4", "4")
    assert curve.tokens_in == "3,600"


@pytest.mark.slow
def test_alignment_plan_bounds_what_a_scripted_memalign_run_sends(tmp_path, monkeypatch):
    """Cross-validation through real MLflow judges and MemAlign against a scripted server:
    the aligned judges send the planned requests, and neither their prompts nor the
    distillation requests exceed the plan's upper bounds."""
    from nbjudge.alignment.crossval import cross_validate
    from nbjudge.alignment.memalign import MemAlignSettings
    from nbjudge.llm.backends import open_backend
    from nbjudge.plan.judging import Fold, alignment_plan
    from nbjudge.schemas import DIMENSIONS
    from testing.fault_server import FaultServer
    from testing.scripted_alignment import judge_or_guideline, scripted_experiment, split_requests

    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    monkeypatch.setenv("MLFLOW_MODEL_CATALOG_URI", "")
    built = scripted_experiment(tmp_path, "plan-test", DIMENSIONS)
    views, labels, traces, labelled = built.views, built.labels, built.traces, built.labelled
    assignment = built.folds
    folds = [Fold(0, f, assignment.train_ids(f), assignment.test_ids(f)) for f in range(4)]
    settings = MemAlignSettings(retrieval_k=2)

    script = judge_or_guideline("fit imputers on training rows only")

    with FaultServer(script) as server:
        llm = _llm("openai_compatible", base_url=server.base_url, model="scripted",
                   context_size=32768, notebook_tokens=1000, concurrency=2, max_retries=0,
                   max_output_tokens=100, embedding_model="hashing")
        judge = {"cache_dir": str(tmp_path / "answers")}
        for variant in ("full", "semantic_only"):
            server.bodies.clear()
            plan = alignment_plan(views, labels, folds, llm, settings, variant)
            with open_backend(llm, embeddings=True, cache_dir=tmp_path / variant) as backend:
                _, _, audits = cross_validate(
                    views, traces, labelled, [assignment], variant=variant, llm=llm,
                    judge=judge, settings=settings, backend=backend,
                    audit_root=tmp_path / "alignment" / variant, progress=False)
            lines = {line.what: line for line in plan.lines}
            tokenizer = tokenizer_for("hosted_vllm:/scripted")
            judged, distilled = split_requests(server.bodies)
            assert len(judged) == lines["judge requests"].requests == 8 * 9, variant
            assert (sum(tokenizer.messages(b["messages"]) for b in judged)
                    <= lines["judge requests"].prompt_tokens), variant
            # the second variant's distillation asks what the first asked: DSPy's cache
            # answers it (the plan does not consult that cache, so it stays a bound)
            assert len(distilled) <= lines["distillation"].requests, variant
            assert distilled or variant == "semantic_only"
            assert (sum(tokenizer.messages(b["messages"]) for b in distilled)
                    <= lines["distillation"].prompt_tokens), variant
            assert "embeddings" not in lines     # the in-process hashing embedder
            # the audits count exactly the distillation requests the server received (a
            # judge request logged late by litellm is not counted against an alignment)
            assert sum((a.tokens or {}).get("calls", 0) for a in audits) == len(distilled)


@pytest.mark.slow
def test_the_curve_plan_bounds_what_a_scripted_curve_run_sends(tmp_path, monkeypatch):
    """The curve stage's plan against the label-efficiency run it plans, through real
    MLflow judges and MemAlign on a scripted server: the planned judge requests are sent,
    and neither they nor the distillation requests exceed the plan's upper bounds."""
    from types import SimpleNamespace

    from nbjudge.alignment.curve import curve_splits, label_efficiency
    from nbjudge.alignment.memalign import MemAlignSettings
    from nbjudge.llm.backends import open_backend
    from nbjudge.plan.judging import curve_plan
    from nbjudge.schemas import DIMENSIONS
    from testing.fault_server import FaultServer
    from testing.scripted_alignment import judge_or_guideline, scripted_experiment, split_requests

    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    monkeypatch.setenv("MLFLOW_MODEL_CATALOG_URI", "")
    built = scripted_experiment(tmp_path, "curve-plan-test", DIMENSIONS)
    settings = MemAlignSettings(retrieval_k=2)
    fractions = [0.5, 1.0]
    with FaultServer(judge_or_guideline("fit imputers on training rows only")) as server:
        llm = _llm("openai_compatible", base_url=server.base_url, model="scripted",
                   context_size=32768, notebook_tokens=1000, concurrency=2, max_retries=0,
                   max_output_tokens=100, embedding_model="hashing")
        judge = {"cache_dir": str(tmp_path / "answers")}
        inputs = SimpleNamespace(views=built.views, labels=built.labels, llm=llm, judge=judge,
                                 labelled=lambda: built.labelled, traces=lambda: built.traces)
        plan = curve_plan(built.views, built.labels,
                          curve_splits([built.folds], fractions, seed=0), ["full"], llm,
                          settings)
        with open_backend(llm, embeddings=True, cache_dir=tmp_path / "curve") as backend:
            judgments, _ = label_efficiency(
                inputs, [built.folds], fractions, variants=["full"], settings=settings,
                controls=None, backend=backend, audit_root=tmp_path / "alignment", seed=0,
                progress=False)
    lines = {line.what: line for line in plan.lines}
    tokenizer = tokenizer_for("hosted_vllm:/scripted")
    judged, distilled = split_requests(server.bodies)
    assert len(judgments) == len(judged) == lines["judge requests (full)"].requests == 2 * 8 * 9
    assert (sum(tokenizer.messages(b["messages"]) for b in judged)
            <= lines["judge requests (full)"].prompt_tokens)
    assert distilled
    assert len(distilled) <= lines["distillation (full)"].requests
    assert (sum(tokenizer.messages(b["messages"]) for b in distilled)
            <= lines["distillation (full)"].prompt_tokens)
