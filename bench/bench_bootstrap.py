"""Benchmark: the shared-index paired bootstrap against a per-dimension scipy loop.

10,000 resamples of 50 notebooks x 9 dimensions x 3 variants, every statistic
(MAE and bias of each variant, improvement and relative reduction of two
comparisons with the baseline and one contrast), percentile intervals. The
scipy loop calls ``scipy.stats.bootstrap(paired=True)`` once per dimension
with a statistic returning all twelve numbers; given the same seed it draws
the same resamples, so the benchmark also checks that both give the same
intervals. Both are timed in this run; the best of ``--repeats`` runs counts.

    python bench/bench_bootstrap.py [--repeats 5] [--method percentile|bca] [--blas-threads N]

On a busy machine, BLAS threads wait for each other on every small matrix
product; ``--blas-threads 1`` shows the time without that contention.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy import stats
from threadpoolctl import threadpool_limits

from nbjudge.stats import bootstrap_agreement

N_NOTEBOOKS, N_DIMENSIONS, N_RESAMPLES, SEED = 50, 9, 10_000, 0
VARIANTS = ("baseline", "full", "semantic_only")
COMPARISONS = (("baseline", "full"), ("baseline", "semantic_only"), ("semantic_only", "full"))


def synthetic_scores(rng):
    """Human scores 0-3 and three judges that miss by one step at different rates."""
    human = rng.integers(0, 4, (N_NOTEBOOKS, N_DIMENSIONS)).astype(float)
    judges = []
    for miss in (0.5, 0.2, 0.3):
        step = rng.choice([-1, 1], human.shape) * (rng.random(human.shape) < miss)
        judges.append(np.clip(human + step, 0, 3))
    return human, np.stack(judges)


def dimension_statistic(human, baseline, full, semantic_only, axis=-1):
    """The twelve statistics of one dimension, in bootstrap_agreement's order."""
    judges = {"baseline": baseline, "full": full, "semantic_only": semantic_only}
    error = {name: np.abs(j - human).mean(axis=axis) for name, j in judges.items()}
    bias = [(j - human).mean(axis=axis) for j in judges.values()]
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = [(error[r] - error[c]) / error[r] for r, c in COMPARISONS]
    improvement = [error[r] - error[c] for r, c in COMPARISONS]
    return np.stack([*error.values(), *bias, *improvement, *relative])


def run_ours(human, judge, method):
    return bootstrap_agreement(human, judge, variants=VARIANTS, comparisons=COMPARISONS,
                               n_resamples=N_RESAMPLES, method=method,
                               rng=np.random.default_rng(SEED))


def run_scipy(human, judge, method):
    # Relative reductions of x / 0 are inf for scipy; its standard error then warns.
    with np.errstate(divide="ignore", invalid="ignore"):
        return _run_scipy(human, judge, method)


def _run_scipy(human, judge, method):
    return [
        stats.bootstrap((human[:, d], *judge[:, :, d]), dimension_statistic, paired=True,
                        method=method, n_resamples=N_RESAMPLES,
                        rng=np.random.default_rng(SEED))
        for d in range(N_DIMENSIONS)
    ]


def best_time(function, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return min(times), float(np.median(times)), result


def same_intervals(ours, theirs):
    """Both runs saw the same resamples: their defined intervals must coincide."""
    for d, reference in enumerate(theirs):
        rows = [i for i, s in enumerate(ours.statistics) if s.dimension == str(d)]
        defined = np.isfinite(reference.bootstrap_distribution).all(axis=1)
        for bound, expected in zip(ours.confidence_interval, reference.confidence_interval,
                                   strict=True):
            if not np.allclose(bound[rows][defined], expected[defined], rtol=1e-9, atol=1e-12):
                return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--method", choices=("percentile", "bca"), default="percentile")
    parser.add_argument("--blas-threads", type=int, default=None,
                        help="limit BLAS threads (default: as BLAS starts)")
    args = parser.parse_args()
    with threadpool_limits(limits=args.blas_threads, user_api="blas"):
        measure(args)


def measure(args: argparse.Namespace) -> None:
    human, judge = synthetic_scores(np.random.default_rng(SEED))
    run_ours(human, judge, args.method)  # warm-up: imports, first allocations
    ours_best, ours_median, ours = best_time(lambda: run_ours(human, judge, args.method),
                                             args.repeats)
    scipy_method = "BCa" if args.method == "bca" else "percentile"
    scipy_best, scipy_median, theirs = best_time(
        lambda: run_scipy(human, judge, scipy_method), max(1, args.repeats // 2))

    print(f"{N_RESAMPLES} resamples, {N_NOTEBOOKS} notebooks x {N_DIMENSIONS} dimensions x "
          f"{len(VARIANTS)} variants, {len(ours.statistics)} statistics, {args.method}")
    print(f"nbjudge.stats.bootstrap_agreement: best {ours_best:.3f} s (median {ours_median:.3f} s)")
    print(f"scipy.stats.bootstrap, per-dimension loop: best {scipy_best:.3f} s "
          f"(median {scipy_median:.3f} s)")
    print(f"speed-up: {scipy_best / ours_best:.1f}x (target >= 10x; target time < 1 s)")
    if args.method == "percentile":
        print(f"same intervals as scipy: {same_intervals(ours, theirs)}")


if __name__ == "__main__":
    main()
