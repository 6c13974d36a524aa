"""Coverage, family-wise error and power of nbjudge's statistics on two simulated worlds.

    nice python bench/validate_intervals.py [--experiments 1000] [--resamples 10000]
        [--sizes 20 30 40 50 80 200] [--jobs 2] [--seed 0] [--out bench/results/intervals.md]

Every simulated experiment becomes label and judgment records and goes through
``nbjudge.stats.analyze_experiment``, the ``stats`` stage's entry point, with its
own seed and its own resamples (nothing is shared between experiments). The
worlds are in ``bench/validation_worlds.py``: ``today`` (the first bench's
process; independent notebooks, or cases of 4-5 with a shared difficulty) and
``ordinal`` (tie-heavy 1/2/3 scores, raters and consensus, true and wrong N/A,
failures on hard notebooks, cases of 1-5 with case-level leniency and a
case-by-judge interaction). The file written to ``--out`` holds four tables,
each with its settings:

1. Coverage of the 95% interval of the improvement (baseline MAE minus full
   MAE), per method: the default (``auto``, read from the stage's tables), and
   the candidates computed by the library on the same experiment's arrays:
   CR2 t-interval, wild cluster bootstrap-t, case bootstrap-t (studentized),
   expanded percentile, percentile, BCa.
2. The same for the baseline's MAE.
3. Family-wise error over nine null dimensions (the two judges exchangeable,
   case-by-judge interaction included) of the default verdict, the
   simultaneous band, the unadjusted interval, and notebook-level sign flips.
4. Power of the printed verdict: the stage's predicted power at the true
   improvement of one improved dimension against the share of experiments in
   which the verdict flagged it.

Coverage pools the nine dimensions of each experiment (their notebooks are
shared, their scores drawn independently given the case effects); the
worst dimension's coverage stands beside it, with the default's misses split by side
(the truth below or above the interval) and a standard error of its coverage from the
spread of the experiments' own coverages (the nine dimensions share notebooks).
``--experiments 100 --resamples 2000`` took 1,113 s on two idle cores and 2,908 s on
two cores shared with other work; a full run at the defaults (1,000 experiments,
10,000 resamples) takes about five hours. The command actually run is written above
the tables, and the coverages also go to ``src/nbjudge/stats/coverage.json``, which
the report reads (:mod:`nbjudge.stats.coverage`). Every 50 finished experiments of a
cell are kept under ``--cells``: a rerun resumes, and a run asking for more
experiments reuses the ones it has.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
import time
from collections.abc import Iterator
from functools import cache
from multiprocessing import Pool
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).parent))

from validation_worlds import VARIANTS, Population, experiment, population

from nbjudge.stats import (
    StatsConfig,
    adjust_pvalues,
    analyze_experiment,
    bootstrap_agreement,
    sign_flip_test,
)
from nbjudge.stats.bootstrap import _expanded_probabilities
from nbjudge.stats.paired import paired_interval
from nbjudge.stats.tables import (
    comparison_differences,
    consensus,
    impute_failures,
    paired_errors,
)

LAYOUTS = {  # name: (world, notebooks per case)
    "today, independent": ("today", (1,)),
    "today, cases of 4-5": ("today", (4, 5)),
    "ordinal, cases of 1-5": ("ordinal", (1, 2, 3, 4, 5)),
}
CANDIDATES = ("default", "cr2", "wild", "hall", "studentized", "expanded", "percentile", "bca")
NULL_RULES = ("default verdict (Holm, case sign flips)", "simultaneous band (Bonferroni CR2)",
              "unadjusted 95% interval excludes 0", "Holm over notebook sign flips")
POWER_DIMENSION = 5  # model_use: the only improved dimension in the power table
POWER_EFFECT = 4.0
POPULATION = 100_000


@cache
def _population(world: str, case_sizes: tuple[int, ...], effect: float,
                effect_dimensions: tuple[int, ...] | None) -> tuple[Population, dict[str, Any]]:
    pop = population(world, np.random.default_rng(20_261_206), POPULATION,
                     case_sizes=case_sizes, effect=effect, effect_dimensions=effect_dimensions)
    return pop, pop.truth("worst")


def _config(resamples: int, **power: float) -> StatsConfig:
    # Intervals at every size (the stage hides them below its minimum, which these tables
    # set); the power simulation at the stage's default only where its output is checked.
    return StatsConfig.from_mapping({
        "contrasts": [], "bootstrap": {"n_resamples": resamples, "min_notebooks": 2,
                                       "min_cases": 2},
        "power": {"n_simulations": 2000 if power else 100, **power}})


def _arrays(pop: Population, picked: list[int]) -> tuple[np.ndarray, np.ndarray]:
    ratings = pop.ratings[:, picked]
    human = consensus(ratings, "mean", raters=["r1", "r2", "r3"][: ratings.shape[0]],
                      na_policy="worst", na_rule="majority")
    return human, impute_failures(human, pop.judge[:, picked], pop.failed[:, picked],
                                  na_policy="worst")


def _covers(low: np.ndarray, high: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Per dimension: 0 where the interval covers the truth, -1 where the truth lies below
    it, +1 above it (an interval that is too high, or too low)."""
    return np.where(truth < low, -1, np.where(truth > high, 1, 0)).astype(np.int8)


def _coverage_task(layout: str, n: int, index: int, seed: int,
                   resamples: int) -> dict[str, np.ndarray]:
    world, case_sizes = LAYOUTS[layout]
    pop, truth = _population(world, case_sizes, 1.0, None)
    rng = np.random.default_rng([seed, n, index, len(layout)])
    labels, judgments, cases, picked = experiment(pop, n, rng)
    result = analyze_experiment(labels, judgments, _config(resamples), seed=index, cases=cases)
    improvement = result.frames["improvement"]
    mae = result.frames["mae"]
    mae = mae[mae.variant == "baseline"]
    out = {
        "improvement/default": _covers(improvement.ci_low.to_numpy(),
                                       improvement.ci_high.to_numpy(), truth["improvement"]),
        "mae/default": _covers(mae.mae_ci_low.to_numpy(), mae.mae_ci_high.to_numpy(),
                               truth["mae"][0]),
        "zero_share": np.array([0.0]), "n_cases": np.array([len(set(cases.values()))]),
    }
    human, scored = _arrays(pop, picked)
    clusters = [cases[f"nb-{k:04d}"] for k in range(n)]
    absolute, _ = paired_errors(human, scored, na_policy="worst")
    differences = comparison_differences(absolute, VARIANTS)[:, 0]
    out["zero_share"] = np.array([np.mean(differences[~np.isnan(differences)] == 0)])
    targets = {"improvement": (differences, truth["improvement"]),
               "mae": (absolute[0], truth["mae"][0])}
    for kind, (values, value) in targets.items():
        for method in ("cr2", "wild", "hall"):
            interval = paired_interval(values, clusters, method=method, n_resamples=resamples,
                                       rng=rng)
            out[f"{kind}/{method}"] = _covers(interval.low, interval.high, value)
    boot_rng = np.random.default_rng([seed, n, index, 1])
    for method in ("studentized", "bca"):
        boot = bootstrap_agreement(human, scored, variants=VARIANTS, clusters=clusters,
                                   n_resamples=resamples, method=method, rng=boot_rng)
        for kind, variant in (("improvement", "full"), ("mae", "baseline")):
            rows = [i for i, s in enumerate(boot.statistics)
                    if s.kind == kind and s.variant == variant]
            low, high = (b[rows] for b in boot.confidence_interval)
            out[f"{kind}/{method}"] = _covers(low, high, targets[kind][1])
            if method == "studentized":
                distribution = boot.bootstrap_distribution[rows]
                for name, levels in (("percentile", [0.025, 0.975]),
                                     ("expanded", _expanded_probabilities(0.025, boot.n_units))):
                    low, high = np.quantile(distribution, levels, axis=1)
                    out[f"{kind}/{name}"] = _covers(low, high, targets[kind][1])
    return out


def _null_task(layout: str, n: int, index: int, seed: int, resamples: int) -> dict[str, Any]:
    world, case_sizes = LAYOUTS[layout]
    pop, _ = _population(world, case_sizes, 0.0, None)
    rng = np.random.default_rng([seed, n, index, 7])
    labels, judgments, cases, picked = experiment(pop, n, rng)
    result = analyze_experiment(labels, judgments, _config(resamples), seed=index, cases=cases)
    frame = result.frames["improvement"]
    human, scored = _arrays(pop, picked)
    absolute, _ = paired_errors(human, scored, na_policy="worst")
    notebook_tests = sign_flip_test(comparison_differences(absolute, VARIANTS), rng=rng)
    return {
        NULL_RULES[0]: bool(frame.significant.any()),
        NULL_RULES[1]: bool(((frame.simultaneous_low > 0) | (frame.simultaneous_high < 0)).any()),
        NULL_RULES[2]: bool(frame.significant_unadjusted_ci.any()),
        NULL_RULES[3]: bool((adjust_pvalues(notebook_tests.pvalue.ravel(), "holm") < 0.05).any()),
        "patterns": int(frame.n_sign_patterns.max()),
    }


def _power_task(layout: str, n: int, index: int, seed: int, resamples: int) -> dict[str, Any]:
    world, case_sizes = LAYOUTS[layout]
    pop, truth = _population(world, case_sizes, POWER_EFFECT, (POWER_DIMENSION,))
    rng = np.random.default_rng([seed, n, index, 11])
    labels, judgments, cases, _ = experiment(pop, n, rng)
    target = float(truth["improvement"][POWER_DIMENSION])
    result = analyze_experiment(labels, judgments, _config(resamples, target_improvement=target),
                                seed=index, cases=cases)
    row = result.frames["improvement"].iloc[POWER_DIMENSION]
    power = result.frames["power"].iloc[POWER_DIMENSION]
    return {"detected": bool(row.significant and row.improvement > 0),
            "predicted": float(power.power_at_target), "truth": target}


CHUNK = 50  # experiments per kept file


def _run(pool: Any, function: Any, cells: list[tuple[str, int]], args: argparse.Namespace,
         ) -> Iterator[tuple[tuple[str, int], list[Any], float]]:
    for layout, n in cells:
        results: list[Any] = []
        elapsed = 0.0
        # Experiment i of a cell is the same whatever --experiments says, and every CHUNK
        # finished experiments are kept: a rerun, or a run asking for more, resumes.
        for first in range(0, args.experiments, CHUNK):
            last = min(first + CHUNK, args.experiments)
            saved = args.cells / (f"{function.__name__}-{layout.replace(' ', '')}-{n}-"
                                  f"r{args.resamples}-seed{args.seed}-{first}-{last}.pickle")
            if saved.exists():
                chunk, seconds = pickle.loads(saved.read_bytes())
            else:
                started = time.perf_counter()
                tasks = [(layout, n, i, args.seed, args.resamples) for i in range(first, last)]
                chunk = pool.starmap(function, tasks, chunksize=4)
                seconds = time.perf_counter() - started
                saved.parent.mkdir(parents=True, exist_ok=True)
                saved.with_suffix(".tmp").write_bytes(pickle.dumps((chunk, seconds)))
                saved.with_suffix(".tmp").replace(saved)
            results += chunk
            elapsed += seconds
        print(f"# {function.__name__} {layout} n={n}: {elapsed:.0f} s", file=sys.stderr,
              flush=True)
        yield (layout, n), results, elapsed


def _rate(count: int, total: int) -> str:
    return f"{count / total:.3f}"


def _tolerance(total: int, p: float = 0.95) -> str:
    low, high = stats.binom.interval(0.95, total, p)
    return f"{low / total:.3f}-{high / total:.3f}"


def coverage_tables(pool: Any, args: argparse.Namespace,
                    ) -> tuple[list[str], float, list[dict[str, Any]]]:
    cells = [(layout, n) for layout in LAYOUTS for n in args.sizes]
    tables: dict[str, list[str]] = {kind: [] for kind in ("improvement", "mae")}
    records: list[dict[str, Any]] = []
    seconds = 0.0
    for (layout, n), results, elapsed in _run(pool, _coverage_task, cells, args):
        seconds += elapsed
        cases = np.mean([r["n_cases"][0] for r in results])
        zeros = np.mean([r["zero_share"][0] for r in results])
        for kind, rows in tables.items():
            cells_text = []
            methods: dict[str, dict[str, float]] = {}
            for method in CANDIDATES:
                missed = np.stack([r[f"{kind}/{method}"] for r in results])  # (exp, dim)
                covered = missed == 0
                cells_text.append(_rate(int(covered.sum()), covered.size))
                # The nine dimensions of one experiment share notebooks: the standard error
                # of the coverage from the spread of the experiments' own coverages.
                per_experiment = covered.mean(axis=1)
                methods[method] = {  # 6 digits: a count over 9 x experiments stays exact
                    "coverage": round(float(covered.mean()), 6),
                    "truth_below": round(float((missed < 0).mean()), 6),
                    "truth_above": round(float((missed > 0).mean()), 6),
                    "standard_error": round(float(per_experiment.std(ddof=1)
                                                  / np.sqrt(len(per_experiment))), 4),
                    "worst_dimension": round(float(covered.mean(axis=0).min()), 4)}
            default = methods["default"]
            rows.append(f"| {layout} | {n} | {cases:.1f} | {zeros:.2f} | "
                        + " | ".join(cells_text)
                        + f" | {default['worst_dimension']:.3f} | {default['truth_below']:.3f} / "
                        f"{default['truth_above']:.3f} | {default['standard_error']:.3f} |")
            world, case_sizes = LAYOUTS[layout]
            records.append({"statistic": kind, "layout": layout, "world": world,
                            "clustered": max(case_sizes) > 1, "n_notebooks": n,
                            "mean_cases": round(float(cases), 1), "methods": methods})
    total = args.experiments * 9
    header = ("| world | n | cases | zero differences | " + " | ".join(CANDIDATES)
              + " | default, worst dimension | default misses, truth below / above "
                "| default, standard error |")
    rule = "|" + "---|" * (len(CANDIDATES) + 7)
    lines = []
    for kind, rows in tables.items():
        what = "improvement (baseline MAE - full MAE)" if kind == "improvement" \
            else "baseline MAE"
        lines += [f"### Coverage of the 95% interval of the {what}", "",
                  f"{args.experiments} experiments x 9 dimensions per row; 95% of "
                  f"{total} independent indicators would fall in {_tolerance(total)} by "
                  f"chance, one dimension's ({args.experiments}) in "
                  f"{_tolerance(args.experiments)}. The nine dimensions of an experiment "
                  "share its notebooks, so the last column gives the standard error of the "
                  "default's coverage from the spread of the experiments' own coverages. "
                  "'misses' splits the default's misses: the truth below the interval, or "
                  "above it.", "",
                  header, rule, *rows, ""]
    return lines, seconds, records


def null_table(pool: Any, args: argparse.Namespace) -> tuple[list[str], float]:
    cells = [(layout, n) for layout in LAYOUTS for n in args.null_sizes]
    rows = []
    seconds = 0.0
    for (layout, n), results, elapsed in _run(pool, _null_task, cells, args):
        seconds += elapsed
        rates = [_rate(sum(r[rule] for r in results), len(results)) for rule in NULL_RULES]
        patterns = max(r["patterns"] for r in results)
        rows.append(f"| {layout} | {n} | " + " | ".join(rates) + f" | {patterns} |")
    return ([f"### Family-wise error over nine null dimensions (level 0.05, "
             f"{args.experiments} experiments per row; 0.05 by chance falls in "
             f"{_tolerance(args.experiments, 0.05)})", "",
             "| world | n | " + " | ".join(NULL_RULES) + " | most sign patterns drawn |",
             "|" + "---|" * (len(NULL_RULES) + 3), *rows, ""], seconds)


def power_table(pool: Any, args: argparse.Namespace) -> tuple[list[str], float]:
    cells = [("ordinal, cases of 1-5", n) for n in args.power_sizes]
    rows = []
    seconds = 0.0
    for (layout, n), results, elapsed in _run(pool, _power_task, cells, args):
        seconds += elapsed
        detected = sum(r["detected"] for r in results)
        low, high = stats.binomtest(detected, len(results)).proportion_ci(0.95)
        predicted = np.nanmean([r["predicted"] for r in results])
        rows.append(f"| {layout} | {n} | {results[0]['truth']:.3f} | {predicted:.3f} | "
                    f"{detected / len(results):.3f} [{low:.3f}, {high:.3f}] |")
    return (["### Power of the printed verdict (one improved dimension of nine)", "",
             "| world | n | true improvement | predicted power (mean) | detected [95% CI] |",
             "|---|---|---|---|---|", *rows, ""], seconds)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", type=int, default=1000)
    parser.add_argument("--resamples", type=int, default=10_000)
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 30, 40, 50, 80, 200])
    parser.add_argument("--null-sizes", type=int, nargs="+", default=[20, 50, 80])
    parser.add_argument("--power-sizes", type=int, nargs="+", default=[50, 80, 200])
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("bench/results/intervals.md"))
    parser.add_argument("--coverage-json", type=Path,
                        default=Path("src/nbjudge/stats/coverage.json"),
                        help="the measured coverages, read by the report (nbjudge.stats.coverage)")
    parser.add_argument("--cells", type=Path,
                        default=Path(".nbjudge-cache/validate_intervals"),
                        help="finished cells are kept here, so that a rerun resumes")
    args = parser.parse_args(argv)
    with Pool(args.jobs) as pool:
        coverage, t1, records = coverage_tables(pool, args)
        null, t2 = null_table(pool, args)
        power, t3 = power_table(pool, args)
    command = (f"python bench/validate_intervals.py --experiments {args.experiments} "
               f"--resamples {args.resamples} --sizes {' '.join(map(str, args.sizes))} "
               f"--null-sizes {' '.join(map(str, args.null_sizes))} --power-sizes "
               f"{' '.join(map(str, args.power_sizes))} --seed {args.seed}")
    header = [
        "## Validation of the statistics (generated by bench/validate_intervals.py)", "",
        f"Command: `{command}`; "
        f"{args.resamples} bootstrap resamples and 9,999 sign patterns (more "
        f"where a Holm decision needs them) per experiment, each experiment its own draws; "
        f"{t1 + t2 + t3:.0f} s of computation on {args.jobs} processes "
        f"(coverage {t1:.0f} s, null {t2:.0f} s, power {t3:.0f} s).", "",
        "Default stage settings throughout (na_policy=worst, failure_policy=worst, "
        "consensus mean with majority N/A, Holm), except that intervals are computed at every "
        "size. 'cases' is the mean number of cases per experiment; 'zero differences' the "
        "share of paired per-notebook differences exactly 0.", ""]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(header + coverage + null + power))
    total = args.experiments * 9
    low, high = stats.binom.interval(0.95, total, 0.95)
    args.coverage_json.write_text(json.dumps({
        "generated_by": command, "experiments": args.experiments,
        "resamples": args.resamples, "level": 0.95,
        "tolerance": {"indicators": total, "low": low / total, "high": high / total},
        "rows": records}, indent=1) + "\n")
    print(args.out.read_text())


if __name__ == "__main__":
    main()
