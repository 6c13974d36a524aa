"""The public API, pinned: what each package exports is a decision, not an accident.

Each package's ``__all__`` names what users import (the internals stay in
their modules). A change to this list is a change to the API: edit it here
on purpose, as httpx's ``test_exported_members.py`` does.
"""

import importlib

import pytest

EXPORTED = {
    "nbjudge.alignment": [
        "FoldAssignment",
        "LeakageError",
        "assert_no_leakage",
        "assign_folds",
        "check_leakage",
        "read_folds",
        "write_folds",
    ],
    "nbjudge.benchmark": [
        "DATASETS",
        "Dataset",
        "DatasetSpec",
        "LevelDistribution",
        "SuiteError",
        "build_cases",
        "build_dataset",
        "generate_notebooks",
        "load_suite",
        "write_notebook",
    ],
    "nbjudge.compare": [
        "DimensionVerdict",
        "EXIT_PASS",
        "EXIT_REGRESSION",
        "EXIT_UNDECIDED",
        "GateResult",
        "GateSettings",
        "evaluate_gate",
        "parse_tolerances",
    ],
    "nbjudge.controls": [
        "CALIBRATED_FROM",
        "CALIBRATION_METHOD",
        "CONTROL_VARIANTS",
        "ControlSettings",
        "draw_prior",
        "fit_calibration",
        "human_consensus",
        "majority_score",
        "prior_distribution",
        "round_score",
        "run_controls",
    ],
    "nbjudge.grading": [
        "DEFAULT_EXPERIMENT",
        "GradeError",
        "GradeProblem",
        "GradeSet",
        "export_grades",
        "grades_from_traces",
        "grading_traces",
        "import_grades",
        "read_grades",
        "resolve_tracking_uri",
        "status_lines",
        "write_digest",
    ],
    "nbjudge.judges": [
        "DimensionJudge",
        "InvalidScoreError",
        "JudgeRequest",
        "NotebookView",
        "build_requests",
        "call_judge",
        "judge_views",
        "load_judging_inputs",
        "load_views",
        "make_dimension_judge",
        "notebook_outputs",
        "parse_score",
        "run_requests",
    ],
    "nbjudge.llm": [
        "Answer",
        "AnswerCache",
        "Backend",
        "BackendConfigError",
        "BackendFatalError",
        "BackendUnavailableError",
        "BudgetExceededError",
        "CallRunner",
        "LLMConfig",
        "Limits",
        "LocalServer",
        "LocalServerError",
        "Outcome",
        "RetryPolicy",
        "RunSummary",
        "check_credentials",
        "open_backend",
        "price_per_token",
    ],
    "nbjudge.notebooks": [
        "Engine",
        "ExecutionResult",
        "OutputPolicy",
        "RenderOptions",
        "execute_index",
        "execute_notebook",
        "render_notebook",
    ],
    "nbjudge.plan": [
        "PlanExceedsBudgetError",
        "announce",
        "cached_keys",
        "check_budget",
        "format_plans",
        "plan_line",
        "price_of",
        "total_cost",
    ],
    "nbjudge.report": [
        "PdfError",
        "ReportFiles",
        "ReportInputs",
        "ReportSettings",
        "draw_figures",
        "html_to_pdf",
        "load_inputs",
        "render_html",
        "write_report",
    ],
    "nbjudge.rubrics": [
        "Rubric",
        "RubricError",
        "ScoreLevel",
        "Scores",
        "load_rubric",
        "load_rubrics",
        "render_rubric",
    ],
    "nbjudge.schemas": [
        "AlignmentAudit",
        "ArmComparison",
        "ArmSummary",
        "BlueprintEntry",
        "CalibrationMap",
        "Case",
        "ControlsRun",
        "DIMENSIONS",
        "DatasetProperties",
        "EpisodicExample",
        "Execution",
        "FoldRepeat",
        "FoldsFile",
        "Generation",
        "GenerationAttempt",
        "Guideline",
        "JudgeRun",
        "Judgment",
        "Label",
        "Notebook",
        "PPIComparison",
        "PlanLine",
        "PriorDistribution",
        "Record",
        "RecordError",
        "RegisteredJudge",
        "Registration",
        "SCHEMA_VERSION",
        "Score",
        "StagePlan",
        "TASK_TYPES",
        "atomic_write_text",
        "describe",
        "iter_records",
        "normalize_score",
        "read_json",
        "read_json_record",
        "read_records",
        "write_json",
        "write_json_record",
        "write_records",
        "InjectionFinding",
        "RobustnessShift",
    ],
    "nbjudge.stats": [
        "AgreementResult",
        "BootstrapResult",
        "CORRECTIONS",
        "CeilingResult",
        "ConfidenceInterval",
        "ExperimentStats",
        "NA_POLICIES",
        "PAIRED_METHODS",
        "PairedInterval",
        "PowerResult",
        "SignFlipResult",
        "Statistic",
        "StatsConfig",
        "adjust_pvalues",
        "agreement",
        "analyze_experiment",
        "bootstrap_agreement",
        "curve_table",
        "human_ceiling",
        "krippendorff_alpha",
        "paired_interval",
        "power_analysis",
        "quadratic_kappa",
        "score_distance",
        "sign_flip_test",
    ],
    "nbjudge.writer": [
        "GenerationResult",
        "UnusableAnswerError",
        "WriterSettings",
        "build_notebook",
        "load_template",
        "parse_answer",
        "write_notebooks",
        "writer_config",
    ],
}


@pytest.mark.parametrize("package", sorted(EXPORTED))
def test_exported_members(package):
    module = importlib.import_module(package)
    assert sorted(module.__all__) == sorted(EXPORTED[package])
    for name in module.__all__:
        assert getattr(module, name, None) is not None, f"{package}.{name}"


@pytest.mark.parametrize("package", sorted(EXPORTED))
def test_no_private_or_module_names_leak(package):
    module = importlib.import_module(package)
    assert not [n for n in module.__all__ if n.startswith("_")]


def test_library_never_imports_stages():
    import pathlib

    for path in pathlib.Path("src/nbjudge").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "from stages" not in text and "import stages" not in text, path


def test_benchmark_and_stats_do_not_import_judging_code():
    import ast
    import pathlib

    for package in ("benchmark", "stats", "report"):
        for path in pathlib.Path(f"src/nbjudge/{package}").rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            imported = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                        for alias in node.names]
            imported += [node.module or "" for node in ast.walk(tree)
                         if isinstance(node, ast.ImportFrom)]
            for module in imported:
                for forbidden in ("nbjudge.judges", "nbjudge.alignment", "litellm", "dspy",
                                  "mlflow"):
                    assert not module.startswith(forbidden), (path, module)


def test_only_the_llm_layer_talks_to_a_model_server():
    """Model clients and HTTP are imported in nbjudge.llm alone; judges reach
    their model through MLflow's judge adapters, configured by that layer."""
    import pathlib

    from testing.package_checks import imported_modules

    clients = ("litellm", "dspy", "openai", "anthropic", "httpx", "requests", "urllib.request")
    for path in pathlib.Path("src/nbjudge").rglob("*.py"):
        if "llm" in path.parts:
            continue
        for module in imported_modules(path):
            assert not module.startswith(clients), f"{path} imports {module}"
