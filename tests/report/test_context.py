"""What the report says: first-line warnings, the verdict, provenance and later sections."""

import dataclasses
import json

import pytest

from nbjudge.report import ReportSettings
from nbjudge.report.context import build_context, is_smoke, judge_model, report_view, warning_lines

from ._fabricate import fabricate
from .conftest import load

SMOKE = "SMOKE TEST: scores from a tiny offline model (smollm2-135m-instruct)"
SIMULATED = "Labels are simulated by an expert panel model, not graded by people."


@pytest.fixture(scope="module")
def context(experiment):
    return build_context(experiment, {"forest": "data:image/png;base64,AA"})


class TestWarnings:
    def test_smoke_model_first_then_simulated_labels(self, experiment):
        lines = warning_lines(experiment)
        assert lines[0].startswith(SMOKE) and "mean nothing about judge quality" in lines[0]
        assert lines[1] == SIMULATED

    def test_run_facts_win_over_params(self, experiment):
        hosted = dataclasses.replace(experiment, run=experiment.run.model_copy(
            update={"model": "gpt-x", "smoke": False}))
        assert not is_smoke(hosted) and judge_model(hosted) == "gpt-x"
        assert warning_lines(hosted) == [SIMULATED]
        banner = dataclasses.replace(experiment, run=experiment.run.model_copy(
            update={"smoke": True, "banner": "SMOKE: custom"}))
        assert warning_lines(banner)[0] == "SMOKE: custom"

    def test_params_decide_without_run_facts(self, experiment):
        params = dict(experiment.params, llm={"model": "tiny", "smoke": True})
        inputs = dataclasses.replace(experiment, run=None, params=params, judgments=())
        assert is_smoke(inputs) and judge_model(inputs) == "tiny"

    def test_hosted_judge_and_human_labels_need_no_warning(self, baseline):
        assert warning_lines(baseline) == []

    def test_mixed_labels_are_counted(self, baseline):
        labels = list(baseline.labels)
        labels[0] = labels[0].model_copy(update={"source": "simulated"})
        mixed = dataclasses.replace(baseline, labels=tuple(labels))
        assert warning_lines(mixed) == [
            f"1 of {len(labels):,} labels are simulated by an expert panel model, not graded "
            "by people."]

    def test_no_judgments_says_so(self, unjudged):
        assert warning_lines(unjudged)[-1].startswith("No judgments yet")


class TestVerdict:
    def test_one_row_per_dimension_from_the_stats_tables(self, experiment, context):
        verdict = context.verdict
        assert len(verdict.rows) == 9
        assert (verdict.reference, verdict.aligned) == ("baseline", "full")
        mae = experiment.tables["mae"].set_index(["variant", "dimension"])
        row = verdict.rows[2]
        assert row.dimension == "Data imputation"
        base = mae.loc[("baseline", "data_imputation")]
        # The interval, its simulated coverage where that fell short (14 notebooks: the
        # 20-notebook rows of src/nbjudge/stats/coverage.json), then the failure rate.
        interval, _, rest = row.reference_mae.partition("; ")
        assert interval.startswith(
            f"{base.mae:.2f} [{base.mae_ci_low:.2f}, {base.mae_ci_high:.2f}]")
        assert interval.endswith("]") or interval.endswith(" in simulation)")
        assert rest.startswith(f"{100 * base.failure_rate:.0f}% failed")

    def test_summary_counts_significant_dimensions(self, experiment, context):
        improvement = experiment.tables["improvement"].query(
            "kind == 'improvement' and variant == 'full'")
        better = int((improvement.significant & (improvement.improvement > 0)).sum())
        assert f"on {better} of 9 dimensions" in context.verdict.summary
        flags = [row.significant for row in context.verdict.rows]
        assert flags.count("yes, better") == better
        assert context.verdict.rule == (
            "holm-adjusted sign-flip p < 0.05, adjusted over every dimension of every "
            "comparison (controls the family-wise error at 0.05)")
        assert context.verdict.intervals.startswith(
            "95% cr2 (MAE, bias, improvements) and studentized (relative reductions) "
            "intervals, 500 resamples of 14 notebooks out of 14")

    def test_aligned_variant_falls_back_to_another_one(self, experiment):
        view = report_view(experiment, ReportSettings(aligned="semantic_only"))
        assert view.aligned == "semantic_only"
        view = report_view(experiment, ReportSettings(aligned="missing"))
        assert view.aligned == "full"
        assert view.variants == ("baseline", "full", "semantic_only")

    def test_baseline_only(self, baseline):
        context = build_context(baseline, {})
        assert context.verdict.aligned == "—"
        assert context.verdict.summary.startswith("Only the baseline judge has been run")
        assert all(row.aligned_mae == "—" for row in context.verdict.rows)
        assert context.ablation is None
        assert any("Skipped: contrast full vs semantic_only" in note
                   for note in context.limitations)

    def test_without_judgments(self, unjudged):
        context = build_context(unjudged, {})
        assert context.verdict.summary.startswith("no judgments exist yet")
        assert all(row.reference_mae == "—" for row in context.verdict.rows)
        assert context.agreement == () and context.disagreements == ()


class TestProvenance:
    def test_notebooks_labels_and_judgments(self, context):
        facts = context.provenance
        assert facts.notebooks == (
            "14 notebooks: 2 imported from a folder of notebooks; 12 generated procedurally "
            "(runnable code with known quality levels).")
        assert facts.execution == ("Executed in a sandboxed kernel: 3 stopped with an "
                                      "error, 11 ran to the end. Outputs the judges read: 14 "
                                      "from this run.")
        assert facts.cut == ()   # no judgment of the fixture was cut
        assert facts.labels.startswith("162 labels from 2 raters on 14 notebooks (4 graded")
        assert "not graded by people" in facts.labels
        assert facts.judgments[0] == "baseline: 123 ok, 3 failed"

    def test_human_labels(self, baseline):
        assert "graded by human experts" in build_context(baseline, {}).provenance.labels

    def test_judge(self, context):
        assert context.judge.model == "smollm2-135m-instruct"
        assert context.judge.smoke and "smoke-test" in context.judge.note


class TestSections:
    def test_figures_and_contents_follow_what_was_drawn(self, context):
        assert context.figures["forest"].uri == "data:image/png;base64,AA"
        assert context.figures["forest"].caption.startswith("Judge error per dimension")
        anchors = [anchor for anchor, _ in context.contents]
        assert anchors[0] == "improvement" and "guidelines" in anchors

    def test_agreement_tables_per_variant(self, context):
        assert [t.variant for t in context.agreement] == ["baseline", "full",
                                                                "semantic_only"]
        assert len(context.agreement[0].rows) == 9
        failed = sum(int(r.n_failed) for r in context.agreement[0].rows)
        assert failed == 3

    def test_ablation_and_contrast(self, context):
        ablation = context.ablation
        assert ablation.variants == ("baseline", "full", "semantic_only")
        assert ablation.contrasts == ("MAE semantic_only − MAE full",)
        assert len(ablation.rows[0].mae) == 3

    def test_ceiling_and_power(self, experiment, context):
        ceiling = context.ceiling
        assert ceiling.has_power and len(ceiling.rows) == 9
        statuses = {row.status for row in ceiling.rows}
        assert statuses <= {"ok", "raters disagree", "too few ratings"}

    def test_guidelines_with_fold_counts(self, context):
        guidelines = context.guidelines
        assert guidelines.variant == "full" and guidelines.threshold == 0.5
        imputation = next(s for s in guidelines.sections
                          if s.dimension == "Data imputation")
        assert [g.folds for g in imputation.groups] == [
            "3 of 4", "3 of 4", "2 of 4", "1 of 4", "1 of 4", "1 of 4"]
        assert imputation.more == 1
        assert [row.variant for row in context.alignment] == ["full", "semantic_only"]

    def test_disagreements_with_rationales_and_excerpts(self, context):
        rows = context.disagreements
        assert len(rows) == 10
        distances = [float(r.distance) for r in rows]
        assert distances == sorted(distances, reverse=True)
        first = rows[0]
        assert first.ratings[0].rationale and first.judge_rationale
        assert first.excerpt is not None and first.excerpt.text

    def test_settings(self, experiment, context):
        settings = context.settings
        assert settings.seed == "7"
        assert "n_resamples: 500" in settings.params_yaml
        assert dict(settings.packages)["numpy"] == experiment.provenance.packages["numpy"]
        assert "500 resamples of 14 notebooks" in settings.bootstrap

    def test_limitations_name_the_weak_spots(self, context):
        text = " ".join(context.limitations)
        assert "smoke-test model" in text and "Simulated labels" in text
        assert "9 judgments failed" in text
        assert "largest error possible" in text
        assert "They condition on the notebooks' labels, the fold assignment" in text

    def test_missing_alignment_is_a_limitation(self, experiment):
        context = build_context(dataclasses.replace(experiment, alignment=()), {})
        assert context.guidelines is None and context.alignment == ()
        assert any("No alignment audit files" in note for note in context.limitations)

    def test_context_is_plain_data(self, context):
        json.dumps(dataclasses.asdict(context))


def test_settings_are_checked():
    with pytest.raises(ValueError, match="disagreements must be >= 0"):
        ReportSettings(disagreements=-1)
    with pytest.raises(ValueError, match="excerpt_lines"):
        ReportSettings(excerpt_lines=0)


class TestWhatTheNumbersMean:
    """Issue 18 in the report: failures, N/A, small samples, what intervals condition on."""

    @pytest.fixture(scope="class")
    def tiny(self, tmp_path_factory):
        # The default demo's size: four notebooks, default interval settings.
        root = fabricate(tmp_path_factory.mktemp("tiny"), n=4, stats={
            "bootstrap": {"n_resamples": 500}, "permutation": {"n_resamples": 199},
            "power": {"n_simulations": 50, "max_notebooks": 50}, "significance": "ci"})
        return load(root)

    def test_four_notebooks_show_a_standard_error_and_exact_p_never_an_interval(self, tiny):
        context = build_context(tiny, {})
        assert any("rest on fewer than 20 notebooks" in line and "(the smallest on 4)" in line
                   and "only a standard error" in line for line in context.warnings)
        rows = context.verdict.rows
        # No interval for the MAE either: the MAE and its failure rate alone.
        assert all("[" not in row.reference_mae for row in rows), rows[0]
        assert all(row.significant in ("no", "—") for row in rows)
        assert all("(SE " in row.improvement and "no interval" in row.improvement
                   for row in rows if row.improvement != "—")
        assert ("rest on fewer than 20 notebooks, the smallest size validated: their standard "
                "error and permutation p-value") in context.verdict.intervals
        improvement = tiny.tables["improvement"]
        assert improvement.ci_low.isna().all() and improvement.exact_test.all()
        assert not improvement.significant.any()

    def test_failure_rates_stand_next_to_every_mae(self, context):
        for row in context.verdict.rows:
            assert row.reference_mae.endswith(("failed", "failed ⚑"))
        assert all(r.failure_rate.endswith("%") for t in context.agreement
                   for r in t.rows)

    def test_na_precision_and_recall_are_in_the_agreement_tables(self, context):
        row = context.agreement[0].rows[0]
        assert row.na_precision != "" and row.na_recall != ""

    def test_a_variant_that_fails_more_is_flagged_first_page(self, experiment):
        metrics = dict(experiment.metrics, flags=[
            "full failed 40% of its judgments against 2% for baseline (margin 5 points): "
            "each failure is scored as the largest possible error"])
        lines = warning_lines(dataclasses.replace(experiment, metrics=metrics))
        assert lines[-1].startswith("Full failed 40% of its judgments")

    def test_exclude_says_what_it_hides(self, experiment):
        params = dict(experiment.params, stats=dict(experiment.params["stats"],
                                                    na_policy="exclude"))
        context = build_context(dataclasses.replace(experiment, params=params), {})
        assert any("answers N/A when unsure loses nothing" in note
                   for note in context.limitations)

    def test_measured_coverage_stands_beside_an_interval_that_fell_short(
            self, experiment, monkeypatch):
        """Where bench/validate_intervals.py measured an interval of this method and size below
        its level, the cell and the interval sentence say how much it covered."""
        import functools

        from nbjudge.report.sections import verdict as section
        from nbjudge.stats.coverage import measured_coverage

        rows = [{"statistic": statistic, "layout": "ordinal, cases of 1-5", "world": "ordinal",
                 "clustered": True, "n_notebooks": 10, "mean_cases": 4,
                 "methods": {"cr2": {"coverage": coverage}}}
                for statistic, coverage in (("improvement", 0.917), ("mae", 0.934))]
        table = {"experiments": 100, "level": 0.95, "rows": rows,
                 "tolerance": {"indicators": 900, "low": 0.936, "high": 0.963}}
        monkeypatch.setattr(section, "measured_coverage",
                            functools.partial(measured_coverage, table=table))
        verdict = build_context(experiment, {}).verdict
        row = verdict.rows[2]
        assert row.improvement.endswith("] (covered 0.917 in simulation)")
        assert "] (covered 0.934 in simulation); " in row.reference_mae
        assert verdict.intervals.endswith(
            "; labelled 95% but below it in simulation (bench/validate_intervals.py, 100 "
            "experiments per row, tolerance from 0.936): the improvement's cr2 interval "
            "measured 0.917 at n=10 (ordinal, cases of 1-5); the MAE's cr2 interval measured "
            "0.934 at n=10 (ordinal, cases of 1-5); cells with such an interval say so")
        # Within tolerance: nothing is added.
        table["tolerance"]["low"] = 0.9
        verdict = build_context(experiment, {}).verdict
        assert "simulation" not in verdict.rows[2].improvement + verdict.intervals

    def test_repeat_spread_stands_next_to_the_interval(self, experiment):
        improvement = experiment.tables["improvement"].copy()
        improvement.repeat_sd = 0.2
        improvement.repeat_spread_flag = True
        tables = dict(experiment.tables, improvement=improvement)
        context = build_context(dataclasses.replace(experiment, tables=tables), {})
        assert context.verdict.rows[0].improvement.endswith(
            "± 0.20 over CV repeats ⚑")
