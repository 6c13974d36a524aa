"""Coverage of the comparison's difference intervals and the gate's false-alarm rate.

    nice python bench/validate_compare.py [--experiments 500] [--cases 20 50]
        [--per-case 1 4] [--fractions 0.1 0.3 0.5] [--judge-noise 0.4 0.2] [--bias -0.3]
        [--jobs 2] [--seed 0]
        [--out bench/results/compare.md]

The simulated world: two arms (a reference and a candidate) write notebooks for the
same test cases, ``per-case`` notebooks each per case, on nine dimensions. A
notebook's latent quality is 2 + a case effect (one per case and dimension, shared by
both arms, sd 0.5) + the notebook's own noise (sd 0.5); the arms have **no true
difference**, so every difference of mean human scores is 0. An expert's grade is the
quality plus noise (sd 0.3) rounded to 1-3; the judge's score is the quality plus a
per-case judge error (sd 0.2), its own noise (sd ``--judge-noise``) and a bias that differs between
arms (0 for the reference, ``--bias`` for the candidate: a judge that grades the
candidate's style more harshly), rounded to 1-3. Experts grade a share of each arm's
notebooks drawn by :func:`nbjudge.stats.compare.grading_sample` (stratified by arm and
case). Each experiment runs :func:`nbjudge.stats.compare.compare_arms` and the gate
(:func:`nbjudge.compare.gate.evaluate_gate`, tolerance 0 on every dimension, the
strictest: any drop is a regression if significant) on its records.

Coverage pools the nine dimensions of each experiment (independent given the world:
case effects are drawn per dimension), so its binomial tolerance is over 9 x
experiments indicators; the gate's false-alarm rate is one indicator per experiment.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from multiprocessing import Pool
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from nbjudge.compare.gate import EXIT_REGRESSION, EXIT_UNDECIDED, GateSettings, evaluate_gate
from nbjudge.schemas import DIMENSIONS
from nbjudge.stats.compare import compare_arms, grading_sample

LEVEL = 0.95


def _experiment(n_cases: int, per_case: int, fraction: float, noise: float, bias: float,
                seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    shape = (2, n_cases, per_case, len(DIMENSIONS))
    case = rng.normal(0, 0.5, (1, n_cases, 1, len(DIMENSIONS)))
    quality = 2.0 + case + rng.normal(0, 0.5, shape)
    human = np.clip(np.rint(quality + rng.normal(0, 0.3, shape)), 1, 3)
    judge_case = rng.normal(0, 0.2, (2, n_cases, 1, len(DIMENSIONS)))
    offset = np.array([0.0, bias])[:, None, None, None]
    judge = np.clip(np.rint(quality + offset + judge_case + rng.normal(0, noise, shape)), 1, 3)
    ids = [f"{a}/{g}/{k}" for a in range(2) for g in range(n_cases) for k in range(per_case)]
    chosen = set(grading_sample(ids, [i.split("/")[0] for i in ids],
                                [i.split("/")[1] for i in ids], fraction=fraction,
                                seed=int(rng.integers(2**31))))
    graded = np.array([i in chosen for i in ids]).reshape(2, n_cases, per_case, 1)
    result = compare_arms(judge, human=np.where(graded, human, np.nan),
                          arms=["reference", "candidate"], dimensions=DIMENSIONS,
                          level=LEVEL, n_resamples=999, mdd=False, rng=rng)
    records = result.to_records()
    gate_ppi = evaluate_gate(records, GateSettings({"default": 0.0}))
    gate_judge = evaluate_gate(records, GateSettings({"default": 0.0}, source="judge"))
    with np.errstate(invalid="ignore", divide="ignore"):  # PPI undefined below 2 graded cases
        gain = result.classic_standard_error[0] / result.ppi_standard_error[0]
    ppi_covers = (result.ppi_low[0] <= 0) & (result.ppi_high[0] >= 0)
    judge_covers = (result.low[0] <= 0) & (result.high[0] >= 0)
    return {
        "ppi_covers": ppi_covers, "ppi_defined": np.isfinite(result.ppi_low[0]),
        "judge_covers": judge_covers, "judge_difference": result.difference[0],
        "ppi_width": result.ppi_high[0] - result.ppi_low[0],
        "judge_width": result.high[0] - result.low[0],
        "gain": gain,
        "flagged": result.judge_outside_ppi[0],
        "lam": result.ppi_lambda[0].mean(axis=1),
        "graded": float(result.arms.n_graded[:, 0].mean()),
        "alarm_ppi": gate_ppi.exit_code == EXIT_REGRESSION,
        "undecided_ppi": gate_ppi.exit_code == EXIT_UNDECIDED,
        "alarm_judge": gate_judge.exit_code == EXIT_REGRESSION,
    }


def _task(arguments: tuple[int, int, float, float, float, int]) -> dict[str, Any]:
    return _experiment(*arguments)


def _interval(count: int, total: int, p: float) -> str:
    low, high = stats.binom.ppf([0.025, 0.975], total, p) / total
    return f"{low:.3f}-{high:.3f}"


def _row(n_cases: int, per_case: int, fraction: float, noise: float,
         runs: list[dict[str, Any]]) -> str:
    def pooled(key: str) -> np.ndarray:
        return np.concatenate([np.atleast_1d(r[key]) for r in runs])

    defined = pooled("ppi_defined")
    covers = pooled("ppi_covers")[defined]
    alarm_ppi = sum(r["alarm_ppi"] for r in runs)
    alarm_judge = sum(r["alarm_judge"] for r in runs)
    judge_diff = np.nanmean(pooled("judge_difference"))
    cells = [
        f"{noise:g}", str(n_cases), str(per_case), f"{fraction:.0%}",
        f"{np.mean([r['graded'] for r in runs]):.1f}",
        f"{covers.mean():.3f} ({covers.size})", f"{pooled('judge_covers').mean():.3f}",
        f"{judge_diff:+.3f}", f"{np.nanmean(pooled('flagged')):.3f}",
        f"{alarm_ppi / len(runs):.3f}", f"{alarm_judge / len(runs):.3f}",
        f"{np.mean([r['undecided_ppi'] for r in runs]):.3f}",
        f"{np.nanmean(pooled('ppi_width')):.3f}", f"{np.nanmean(pooled('judge_width')):.3f}",
        f"{np.nanmedian(pooled('gain')):.2f}", f"{np.nanmean(pooled('lam')):.2f}",
    ]
    return "| " + " | ".join(cells) + " |"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", type=int, default=500)
    parser.add_argument("--cases", type=int, nargs="+", default=[20, 50])
    parser.add_argument("--per-case", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.1, 0.3, 0.5])
    parser.add_argument("--judge-noise", type=float, nargs="+", default=[0.4, 0.2])
    parser.add_argument("--bias", type=float, default=-0.3)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("bench/results/compare.md"))
    args = parser.parse_args(argv)

    cells = [(g, k, f, s) for s in args.judge_noise for g in args.cases
             for k in args.per_case for f in args.fractions]
    seeds = np.random.SeedSequence(args.seed).generate_state(len(cells) * args.experiments)
    tasks = [(g, k, f, s, args.bias, int(seeds[i * args.experiments + e]))
             for i, (g, k, f, s) in enumerate(cells) for e in range(args.experiments)]
    start = time.perf_counter()
    with Pool(args.jobs) as pool:
        runs = pool.map(_task, tasks, chunksize=8)
    elapsed = time.perf_counter() - start
    n = args.experiments
    lines = [
        "## Validation of the comparison (generated by bench/validate_compare.py)", "",
        f"Command: `python bench/validate_compare.py --experiments {n} --cases "
        f"{' '.join(map(str, args.cases))} --per-case {' '.join(map(str, args.per_case))} "
        f"--fractions {' '.join(map(str, args.fractions))} --judge-noise "
        f"{' '.join(map(str, args.judge_noise))} --bias {args.bias} --seed "
        f"{args.seed}`; {elapsed:.0f} s on {args.jobs} processes.", "",
        "The world (see the script's docstring): two arms with **no true difference** on "
        "nine dimensions, cases shared by both arms, a judge biased by "
        f"{args.bias:+.1f} points (before rounding to 1-3) on the candidate only. The gate "
        "uses tolerance 0 on every dimension, the judge-only gate the same test on the "
        "judge's CR2 standard error.", "",
        f"{n} experiments per row. PPI coverage pools the nine dimensions "
        f"(9 x {n} = {9 * n} indicators where PPI is defined, the count in brackets): 95% "
        f"of them fall in {_interval(0, 9 * n, LEVEL)} by chance at a true 95%. A gate "
        f"holding 5% family-wise raises a false alarm in at most 5% of the {n} "
        f"experiments: up to {stats.binom.ppf(0.975, n, 0.05) / n:.3f} by chance.", "",
        "Columns: judge noise = sd of the judge's own noise (0.4: a weak judge, 0.2: a "
        "good one); graded = expert-graded notebooks per arm; PPI cov. = coverage of the "
        "true difference of mean human scores (0) by the 95% PPI interval; judge cov. = "
        "the same for the judge-only interval; judge diff. = mean judge-only difference "
        "(what the judge's bias makes of no difference); flagged = share of dimensions "
        "where the judge-only difference lies outside the PPI interval; alarm = share of "
        "experiments where the gate exits 1 (PPI, judge-only); undecided = gate exit 2 "
        "(fewer than 10 cases with expert grades, the gate's default); widths = mean "
        "95% interval widths; gain = median standard error of the graded notebooks alone "
        "over PPI's; lambda = mean tuned lambda.", "",
        "| judge noise | cases | per case | graded share | graded | PPI cov. | judge cov. "
        "| judge diff. | flagged | alarm, PPI | alarm, judge-only | undecided | PPI width "
        "| judge width | gain | lambda |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for i, (g, k, f, s) in enumerate(cells):
        lines.append(_row(g, k, f, s, runs[i * n:(i + 1) * n]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
