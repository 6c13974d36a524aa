"""Stage `report`: the experiment report, as one self-contained HTML page and as PDF.

    python -m stages.report --metrics reports/metrics_detail.json --stats reports/stats
        --labels data/labels/labels.jsonl --judgments data/judgments data/controls
        --index data/notebooks/index.jsonl
        --executed-index data/notebooks/executed/index.jsonl
        --alignment data/alignment --curve data/curve
        --compare-arms data/compare/arms.jsonl --comparisons data/compare/comparisons.jsonl
        --html reports/report.html
        --pdf reports/report.pdf --figures reports/figures [--params params.yaml] [--no-pdf]

Reads the parameters, the stats stage's outputs, the labels, every judgment
file and `run.json` beside them, the notebook indexes (for excerpts) and the
alignment audit files if any, and the comparison of arms when one was made
(`data/compare/*.jsonl`: empty when no arms are set, and no section then). Writes
the figures, the HTML and, with headless Chromium, the PDF. The logic lives in `nbjudge.report`.
The commit it ran at is logged in `.nbjudge-cache/runlog/reports/report.html.jsonl`, not
printed in the report (`nbjudge.report.inputs.Provenance`).
"""

from __future__ import annotations

import sys
from pathlib import Path

from nbjudge.config import read_params_mapping
from nbjudge.report import load_inputs, write_report
from nbjudge.report.inputs import git_revision
from nbjudge.run_params import result_params
from nbjudge.runlog import log_values
from nbjudge.stage import StageCommand, run_stage


def main(argv: list[str] | None = None) -> None:
    stage = (StageCommand("report", __doc__).path("--metrics").path("--stats").path("--labels")
             .path("--judgments", nargs="+",
                   help="judgment folders: the judges' (with run.json), the controls'")
             .path("--index").path("--executed-index").path("--alignment")
             .path("--curve", help="the curve stage's folder (curve.csv; empty when the curve "
                                   "is off)")
             .path("--compare-arms", default=None,
                   help="the comparison's arms (ArmSummary JSONL; empty without arms)")
             .path("--comparisons", default=None,
                   help="each arm against the reference (ArmComparison JSONL; empty "
                        "without arms)")
             .path("--robustness", default=None,
                   help="the robustness stage's folder (summary.json; enabled: false when off)")
             .path("--injections", default=None,
                   help="what the injection scanner flagged in the judged notebooks (JSONL)")
             .path("--root", default=Path("."),
                   help="folder the notebook paths of the indexes are relative to")
             .path("--html").path("--pdf").path("--figures")
             .option("--no-pdf", action="store_true", help="write the HTML only"))
    args, _ = stage.parse(argv)
    # Run-only keys (execute.workers, ...) change no result: dvc.yaml does not list them.
    params = result_params(read_params_mapping(args.params))
    inputs = load_inputs(
        params, metrics=args.metrics, stats=args.stats, labels=args.labels,
        judgments=args.judgments, notebook_index=args.index,
        executed_index=args.executed_index, alignment=args.alignment, root=args.root,
        curve=args.curve, compare_arms=args.compare_arms, comparisons=args.comparisons,
        robustness=args.robustness, injections=args.injections)
    files = write_report(inputs, html=args.html, pdf=None if args.no_pdf else args.pdf,
                         figures=args.figures)
    written = [files.html, *([files.pdf] if files.pdf else [])]
    # The page names no commit (its bytes follow from its inputs): the commit goes beside it.
    log_values(args.html, [{"git_revision": git_revision(args.root)}])
    stage.done(f"wrote {', '.join(map(str, written))} and {len(files.figures)} figure files "
               f"under {args.figures}")


if __name__ == "__main__":
    sys.exit(run_stage(main))
