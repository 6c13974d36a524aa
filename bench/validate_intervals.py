"""Coverage of every interval method and family-wise error of every significance rule.

    python bench/validate_intervals.py [--experiments 2000] [--resamples 4000]
        [--sizes 4 8 12 20 50 200] [--seed 0] [--quick]

Simulates experiments from a finite population with a known MAE and a known
improvement (baseline MAE minus aligned MAE), bootstraps each with
``nbjudge.stats.bootstrap_agreement`` exactly as the stats stage does, and
prints two Markdown tables:

1. Coverage of the two-sided 95% interval, per method, number of notebooks
   n, data layout (``independent`` notebooks, or ``clustered``: cases of four
   notebooks sharing a judge-difficulty effect, within-case correlation
   0.5, resampled by case; five per case where that divides n) and statistic (MAE of the baseline,
   improvement), with the Clopper-Pearson 95% interval of the coverage.
2. Family-wise error over nine null dimensions (no true improvement on any):
   the share of experiments in which a rule flags at least one dimension.

Experiments are batched as the columns of one bootstrap call (they share the
resample index matrix, not data; coverage indicators are then nearly
independent). Takes tens of minutes on two cores at the defaults; run it
under ``nice`` in the background.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from scipy import stats

from nbjudge.stats import adjust_pvalues, bootstrap_agreement, sign_flip_test
from nbjudge.stats.tables import comparison_differences, paired_errors

METHODS = ("auto", "studentized", "expanded", "percentile", "bca")
COLUMNS_PER_CALL = 100
CASE_CORRELATION = 0.5


def population(rng: np.random.Generator, n_cases: int, case_size: int, shifts=(-0.5, -1.5),
               ) -> tuple[np.ndarray, np.ndarray]:
    """Human scores (case, notebook) and judge scores (variant, case, notebook).

    A notebook's quality sets its human score; its difficulty, shared in part
    by its case's notebooks, sets how often each judge errs by one step.
    """
    shape = (n_cases, case_size)
    quality = rng.standard_normal(shape)
    human = np.clip(np.rint(1.5 + 0.8 * quality + 0.6 * rng.standard_normal(shape)), 0, 3)
    rho = CASE_CORRELATION if case_size > 1 else 0.0
    difficulty = (np.sqrt(rho) * rng.standard_normal((n_cases, 1))
                  + np.sqrt(1 - rho) * rng.standard_normal(shape))
    judges = []
    for shift in shifts:
        error_probability = 1 / (1 + np.exp(-(shift + 1.2 * difficulty)))
        step = rng.choice([-1, 1], shape) * (rng.random(shape) < error_probability)
        judges.append(np.clip(human + step, 0, 3))
    return human, np.stack(judges)


def _case_size(n: int, layout: str) -> int:
    """Notebooks per case: five where that divides n (50 notebooks: 10 cases, near bench50's
    12 cases of about four), else four, else two."""
    if layout == "independent":
        return 1
    for size in (5, 4, 2):
        if n % size == 0 and n // size >= 2:
            return size
    raise ValueError(f"no case size divides {n} notebooks into two or more cases")


def _draw(rng, human, judge, n, case_size, columns):
    """``columns`` independent experiments of n notebooks: (n, column) and (2, n, column)."""
    n_cases = n // case_size
    picked = rng.integers(0, human.shape[0], (n_cases, columns))
    h = human[picked].transpose(0, 2, 1).reshape(n, columns)  # case-major notebook order
    j = judge[:, picked].transpose(0, 1, 3, 2).reshape(2, n, columns)
    clusters = np.repeat(np.arange(n_cases), case_size).astype(str)
    return h, j, clusters


def coverage_table(args) -> list[str]:
    rng = np.random.default_rng(args.seed)
    rows = ["| method | n | layout | statistic | coverage | 95% interval of coverage |",
            "|---|---|---|---|---|---|"]
    for layout in ("independent", "clustered"):
        for n in args.sizes:
            case_size = _case_size(n, layout)
            human, judge = population(rng, 200_000 // case_size, case_size)
            error = np.abs(judge - human).reshape(2, -1).mean(axis=1)
            truth = {"mae": error[0], "improvement": error[0] - error[1]}
            methods = [(m, None) for m in METHODS]
            if n == 50:
                methods.append(("percentile", 2 * n // case_size))
            for method, sample_size in methods:
                covered = {"mae": 0, "improvement": 0}
                started = time.perf_counter()
                done = 0
                while done < args.experiments:
                    columns = min(COLUMNS_PER_CALL, args.experiments - done)
                    h, j, clusters = _draw(rng, human, judge, n, case_size, columns)
                    result = bootstrap_agreement(
                        h, j, variants=("baseline", "aligned"), clusters=clusters,
                        method=method, sample_size=sample_size, n_resamples=args.resamples,
                        rng=rng)
                    low, high = result.confidence_interval
                    for kind, value in truth.items():
                        rows_of = [i for i, s in enumerate(result.statistics)
                                   if s.kind == kind and s.variant == (
                                       "baseline" if kind == "mae" else "aligned")]
                        inside = (low[rows_of] <= value) & (value <= high[rows_of])
                        covered[kind] += int(inside.sum())
                    done += columns
                name = method if sample_size is None else (
                    f"m-out-of-n percentile ({sample_size} of {n // case_size} "
                    f"{'notebooks' if case_size == 1 else 'cases'})")
                for kind, count in covered.items():
                    ci = stats.binomtest(count, args.experiments).proportion_ci(0.95)
                    rows.append(f"| {name} | {n} | {layout} | {kind} | "
                                f"{count / args.experiments:.3f} | "
                                f"[{ci.low:.3f}, {ci.high:.3f}] |")
                print(f"# {layout} n={n} {name}: {time.perf_counter() - started:.0f} s",
                      file=sys.stderr, flush=True)
    return rows


def familywise_table(args) -> list[str]:
    """Nine null dimensions: both judges are the same judge, so every improvement is 0."""
    rng = np.random.default_rng(args.seed + 1)
    n_dimensions, n = 9, 50
    human, judge = population(rng, 200_000, 1, shifts=(-0.5, -0.5))
    human, judge = human[:, 0], judge[:, :, 0]
    flagged = {rule: 0 for rule in ("unadjusted studentized CI excludes 0",
                                    "unadjusted percentile CI excludes 0",
                                    "Holm-adjusted sign-flip p < 0.05",
                                    "BH-adjusted sign-flip p < 0.05 (FDR rule)",
                                    "simultaneous max-|t| band excludes 0")}
    for _ in range(args.experiments):
        picked = rng.integers(0, human.size, (n, n_dimensions))
        h, j = human[picked], judge[:, picked]
        found = {}
        for method in ("studentized", "percentile"):
            result = bootstrap_agreement(h, j, method=method, n_resamples=args.resamples // 2,
                                         rng=rng)
            rows = [i for i, s in enumerate(result.statistics) if s.kind == "improvement"]
            low, high = (b[rows] for b in result.confidence_interval)
            found[f"unadjusted {method} CI excludes 0"] = np.any((low > 0) | (high < 0))
            if method == "studentized":
                low, high = (b[rows] for b in result.simultaneous_interval)
                found["simultaneous max-|t| band excludes 0"] = np.any((low > 0) | (high < 0))
        absolute, _ = paired_errors(h, j)
        tests = sign_flip_test(comparison_differences(absolute, ("0", "1")),
                               n_resamples=999, rng=rng)
        found["Holm-adjusted sign-flip p < 0.05"] = np.any(
            adjust_pvalues(tests.pvalue, "holm") < 0.05)
        found["BH-adjusted sign-flip p < 0.05 (FDR rule)"] = np.any(
            adjust_pvalues(tests.pvalue, "fdr_bh") < 0.05)
        for rule, hit in found.items():
            flagged[rule] += int(hit)
    rows = ["| rule (nine null dimensions, n = 50) | family-wise error | 95% interval |",
            "|---|---|---|"]
    for rule, count in flagged.items():
        ci = stats.binomtest(count, args.experiments).proportion_ci(0.95)
        rows.append(f"| {rule} | {count / args.experiments:.3f} | "
                    f"[{ci.low:.3f}, {ci.high:.3f}] |")
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", type=int, default=2000)
    parser.add_argument("--resamples", type=int, default=4000)
    parser.add_argument("--sizes", type=int, nargs="+", default=[4, 8, 12, 20, 50, 200])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="200 experiments, 1000 resamples")
    parser.add_argument("--skip-coverage", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.experiments, args.resamples = 200, 1000
    print(f"{args.experiments} experiments per cell, {args.resamples} resamples each, "
          f"seed {args.seed}\n")
    if not args.skip_coverage:
        print("\n".join(coverage_table(args)) + "\n", flush=True)
    print("\n".join(familywise_table(args)))


if __name__ == "__main__":
    main()
