"""The measured coverage the report prints beside an interval: the packaged table agrees with
the bench's text, and the lookup picks the rows that resemble an analysis."""

import json
import re
from pathlib import Path

import pytest
from scipy import stats

from nbjudge.stats.coverage import coverage_table, measured_coverage

ROOT = Path(__file__).resolve().parents[2]


def table(rows, experiments=100, low=0.936):
    return {"generated_by": "python bench/validate_intervals.py", "experiments": experiments,
            "resamples": 2000, "level": 0.95,
            "tolerance": {"indicators": 9 * experiments, "low": low, "high": 0.963},
            "rows": rows}


def row(statistic, layout, n, coverage, clustered=True, method="cr2"):
    return {"statistic": statistic, "layout": layout, "world": layout.split(",")[0],
            "clustered": clustered, "n_notebooks": n, "mean_cases": n / 3,
            "methods": {method: {"coverage": coverage}}}


ROWS = [row("improvement", "today, independent", 20, 0.90, clustered=False),
        row("improvement", "today, independent", 50, 0.95, clustered=False),
        row("improvement", "ordinal, cases of 1-5", 20, 0.94),
        row("improvement", "ordinal, cases of 1-5", 50, 0.93),
        row("mae", "ordinal, cases of 1-5", 50, 0.96)]


class TestLookup:
    def test_below_tolerance_is_returned_with_its_row(self):
        found = measured_coverage("improvement", "cr2", 60, clustered=True, table=table(ROWS))
        assert (found.coverage, found.n_notebooks, found.layout) == (
            0.93, 50, "ordinal, cases of 1-5")
        assert found.describe() == "measured 0.930 at n=50 (ordinal, cases of 1-5)"

    def test_independent_notebooks_take_the_lowest_of_every_layout(self):
        found = measured_coverage("improvement", "cr2", 25, clustered=False, table=table(ROWS))
        assert (found.coverage, found.layout) == (0.90, "today, independent")
        # With cases, the independent layout is not theirs: 0.94 is within tolerance.
        assert measured_coverage("improvement", "cr2", 25, clustered=True,
                                 table=table(ROWS)) is None

    def test_nearest_validated_size_at_or_below(self):
        assert measured_coverage("improvement", "cr2", 49, clustered=True,
                                 table=table(ROWS)) is None          # n = 20 row: 0.94
        assert measured_coverage("improvement", "cr2", 500, clustered=True,
                                 table=table(ROWS)).n_notebooks == 50
        assert measured_coverage("improvement", "cr2", 10, clustered=False,
                                 table=table(ROWS)).n_notebooks == 20

    @pytest.mark.parametrize(("args", "kwargs"), [
        (("mae", "cr2", 50), {}),                      # within tolerance
        (("bias", "cr2", 50), {}),                     # not simulated
        (("improvement", "studentized", 50), {}),      # method not measured
        (("improvement", "cr2", 50), {"level": 0.9}),  # level not simulated
    ])
    def test_nothing_to_say(self, args, kwargs):
        assert measured_coverage(*args, clustered=True, table=table(ROWS), **kwargs) is None


class TestPackagedTable:
    def test_written_by_the_bench_and_agrees_with_its_text(self):
        packaged = coverage_table()
        on_disk = json.loads((ROOT / "src/nbjudge/stats/coverage.json").read_text())
        assert packaged == on_disk
        text = (ROOT / "bench/results/intervals.md").read_text()
        command = re.search(r"Command: `([^`]+)`", text).group(1)
        assert packaged["generated_by"] == command
        experiments = packaged["experiments"]
        assert f"--experiments {experiments} " in command
        assert f"--resamples {packaged['resamples']} " in command
        total = 9 * experiments
        low, high = stats.binom.interval(0.95, total, 0.95)
        assert packaged["tolerance"] == {"indicators": total, "low": low / total,
                                         "high": high / total}
        assert f"95% of {total} independent indicators would fall in " \
               f"{low / total:.3f}-{high / total:.3f}" in text

    def test_rows_cover_both_statistics_every_size_and_the_methods(self):
        packaged = coverage_table()
        sizes = {r["n_notebooks"] for r in packaged["rows"]}
        assert sizes >= {20, 30, 40, 50, 80, 200}
        for statistic in ("improvement", "mae"):
            rows = [r for r in packaged["rows"] if r["statistic"] == statistic]
            assert {r["clustered"] for r in rows} == {True, False}
            for r in rows:
                assert set(r["methods"]) >= {"default", "cr2", "wild", "hall"}
                for measured in r["methods"].values():
                    assert 0 <= measured["coverage"] <= 1
                    assert measured["coverage"] + measured["truth_below"] \
                        + measured["truth_above"] == pytest.approx(1, abs=2e-4)
