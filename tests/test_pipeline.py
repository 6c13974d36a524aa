"""The DVC pipeline end to end on a tiny suite, in a scratch copy of the repository
(testing/pipeline_runs.py), the judges answered by a scripted server."""

import json
from pathlib import Path

import pytest

from nbjudge.config import compose_params
from nbjudge.runlog import RUNLOG_ROOT, runlog_path
from nbjudge.schemas import DIMENSIONS, BlueprintEntry, Judgment, Label, Notebook, read_records
from testing.fault_server import FaultServer
from testing.pipeline_runs import TINY_OVERRIDES, dvc, scratch_repo
from testing.scripted_alignment import judge_or_guideline

pytestmark = pytest.mark.slow  # dvc repro, a FaultServer and notebook kernels


_script = judge_or_guideline("Prefer imputers fit on the training split")


@pytest.fixture(scope="module")
def llm_server():
    with FaultServer(_script) as server:
        yield server


@pytest.fixture(scope="module")
def repo(tmp_path_factory, llm_server):
    repo = scratch_repo(tmp_path_factory.mktemp("repo"), llm_server.base_url)
    (repo / ".opened").mkdir()
    dvc(repo, "repro", open_log=repo / ".opened")
    return repo


@pytest.mark.slow
def test_repro_builds_every_output(repo):
    index = read_records(repo / "data/notebooks/executed/index.jsonl", Notebook)
    assert len(index) == 2
    assert all(entry.execution is not None for entry in index)
    blueprint = read_records(repo / "data/blueprint/blueprint.jsonl", BlueprintEntry)
    crashes = {e.notebook_id for e in blueprint if e.crash}
    for entry in index:
        assert (entry.execution.status == "ok") != (entry.notebook_id in crashes)
    labels = read_records(repo / "data/labels/labels.jsonl", Label)
    assert {label.notebook_id for label in labels} == {e.notebook_id for e in index}
    metrics = json.loads((repo / "reports/metrics.json").read_text())
    assert metrics
    for variant in ("baseline", "full", "semantic_only"):
        judgments = read_records(repo / f"data/judgments/{variant}.jsonl", Judgment)
        assert sorted((j.notebook_id, j.dimension) for j in judgments) == sorted(
            (e.notebook_id, d) for e in index for d in DIMENSIONS)
    folds = json.loads((repo / "data/folds.json").read_text())
    assert folds["k"] == 2
    registered = json.loads((repo / "data/registered/judges.json").read_text())
    assert len(registered["judges"]) == len(DIMENSIONS)
    html = (repo / "reports/report.html").read_text(encoding="utf-8")
    assert "Labels are simulated" in html
    assert (repo / "reports/report.pdf").stat().st_size > 1000


CONTROLS = ("majority", "prior", "calibrated", "calibrated_full")


@pytest.mark.slow
def test_controls_reach_metrics_report_and_figures(repo):
    index = read_records(repo / "data/notebooks/executed/index.jsonl", Notebook)
    controls = read_records(repo / "data/controls/judgments.jsonl", Judgment)
    for variant in CONTROLS:
        mine = [j for j in controls if j.variant == variant]
        assert sorted((j.notebook_id, j.dimension) for j in mine) == sorted(
            (e.notebook_id, d) for e in index for d in DIMENSIONS), variant
        assert all(j.fold is not None and j.tokens_in is None for j in mine)
    run = json.loads((repo / "data/controls/controls.json").read_text())
    assert run["variants"] == list(CONTROLS) and run["seconds"] is None
    timing = json.loads(runlog_path("data/controls/controls.json", repo / RUNLOG_ROOT).read_text())
    assert timing["seconds"] < 60
    metrics = json.loads((repo / "reports/metrics_detail.json").read_text())
    for variant in CONTROLS:
        assert set(metrics["mae"][variant]) == set(DIMENSIONS)
        assert "mae_mean" in metrics["summary"][variant]
        assert variant not in metrics["improvement"]
    assert all(metrics["mae"]["prior"][d]["expected"] is not None for d in DIMENSIONS)
    assert {"baseline_vs_majority", "full_vs_calibrated", "semantic_only_vs_calibrated",
            "full_vs_semantic_only"} <= set(metrics["contrast"])
    html = (repo / "reports/report.html").read_text(encoding="utf-8")
    assert "baseline beats no-skill" in html and "full beats calibration" in html
    assert "Against no skill: the baseline judge beats majority" in html
    for figure in ("forest", "ablation"):
        svg = (repo / f"reports/figures/{figure}.svg").read_text(encoding="utf-8")
        assert "majority" in svg and "calibrated" in svg, figure
    # every plot of dvc.yaml finds its columns (DVC drops a plot whose column is missing)
    plots = json.loads(dvc(repo, "plots", "show", "--json"))
    assert not plots.get("errors"), plots.get("errors")
    titles = " ".join(plots["data"])
    assert "controls" in titles


@pytest.mark.slow
def test_label_efficiency_curve(repo):
    import csv

    with open(repo / "data/curve/curve.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {(r["variant"], float(r["fraction"])) for r in rows} == {
        (v, q) for v in ("full", "semantic_only", "calibrated") for q in (0.5, 1.0)}
    assert {r["dimension"] for r in rows} == set(DIMENSIONS)
    assert all(float(r["n_labelled"]) == 1.0 for r in rows)  # 1 notebook per fold, k=2
    judgments = read_records(repo / "data/curve/judgments.jsonl", Judgment)
    assert {j.variant for j in judgments} == {
        f"{v}@{q}" for v in ("full", "semantic_only", "calibrated") for q in ("0.5", "1")}
    assert (repo / "reports/figures/label_efficiency.svg").exists()
    html = (repo / "reports/report.html").read_text()
    assert "How many labels to pay for" in html
    # the stage planned before sending, and the report sets the plan beside what it sent
    plan = json.loads((repo / "data/curve/plan.json").read_text())
    lines = {line["what"]: line for line in plan["lines"]}
    assert plan["stage"] == "curve" and "judge requests (full)" in lines
    sent = [j for j in judgments if j.variant.startswith("full@")]
    assert lines["judge requests (full)"]["requests"] == len(sent)
    assert "judge requests (semantic_only)" in html.replace("<wbr>", "")


@pytest.mark.slow
def test_run_only_params_rerun_neither_report_nor_track(repo, llm_server):
    """execute.workers changes how fast notebooks run, not what any stage writes."""
    base = [*TINY_OVERRIDES, f"llm.base_url={llm_server.base_url}"]
    compose_params(repo / "params.yaml", [*base, "execute.workers=1"], repo / "conf")
    try:
        status = dvc(repo, "status")
    finally:
        compose_params(repo / "params.yaml", base, repo / "conf")
    assert "execute:" in status
    assert "report:" not in status and "track:" not in status, status
    assert "Running stage" not in dvc(repo, "repro")


@pytest.mark.slow
def test_second_repro_does_nothing_and_seed_change_reruns(repo):
    out = dvc(repo, "repro")
    assert "Running stage" not in out
    compose_params(repo / "params.yaml", [*TINY_OVERRIDES, "seed=43"], repo / "conf")
    status = dvc(repo, "status")
    for stage in ("cases", "generate", "label", "folds"):
        assert f"{stage}:" in status


# Files a stage may touch without declaring them: its code (checked against the
# import graph by tests/test_dvc_graph.py), the parameters (declared as params),
# caches of answers and the MLflow store (state kept across runs on purpose).
UNDECLARED_OK = ("src/", "stages/", "params.yaml", ".nbjudge-cache/", "mlflow.db", "mlruns/",
                 "mlartifacts/", ".dvc/", ".opened/")


def _stage_name(argv: list[str]) -> str | None:
    entry = Path(argv[0]) if argv else None
    if entry is None or entry.parent.name != "stages":
        return None
    if entry.stem == "align":
        return f"align@{argv[argv.index('--memory') + 1]}"
    return entry.stem


@pytest.mark.slow
def test_every_file_a_stage_touches_is_declared(repo):
    from dvc.repo import Repo

    stages = {s.name: s for s in Repo(str(repo)).index.stages}
    touched: dict[str, dict[str, set[str]]] = {}
    for log in (repo / ".opened").glob("*.json"):
        record = json.loads(log.read_text())
        name = _stage_name(record["argv"])
        if name is None:
            continue
        for kind in ("read", "write"):
            for path in record[kind]:
                # Paths that do not exist after the run were probes (git looking for a
                # repository) or names relative to a directory descriptor (rmtree of a
                # temporary folder), which the hook cannot place.
                if Path(path).is_relative_to(repo) and Path(path).exists():
                    relative = Path(path).relative_to(repo).as_posix()
                    if not relative.startswith(UNDECLARED_OK) and relative != ".":
                        touched.setdefault(name, {"read": set(), "write": set()})[kind].add(
                            relative)
    assert set(touched) == set(stages), "every stage ran and was recorded"

    def within(path: str, declared: list[str], *, listing: bool = False) -> bool:
        """``path`` is a declared path or inside one (or, for a folder listing, above one)."""
        return any(path == d or path.startswith(f"{d}/")
                   or (listing and d.startswith(f"{path}/")) for d in declared)

    problems = []
    for name, files in sorted(touched.items()):
        stage = stages[name]
        deps = [d.def_path for d in stage.deps]
        outs = [o.def_path for o in stage.outs]
        problems += [f"{name} reads undeclared {p}" for p in sorted(files["read"])
                     if not within(p, deps + outs, listing=True)]
        problems += [f"{name} writes undeclared {p}" for p in sorted(files["write"])
                     if not within(p, outs)]
    assert not problems, "\n".join(problems)
