"""Stage `label`: expert labels for every notebook, simulated or imported.

    python -m stages.label --index data/notebooks/index.jsonl
        --out data/labels/labels.jsonl [--params params.yaml]

Reads the `labels` section of `params.yaml` and the top-level `seed`:
`labels.source: panel` simulates an expert panel from the blueprint
(`labels.input`), `labels.source: file` imports `labels.path` checked
against the notebook index, `labels.source: mlflow` imports the HUMAN feedback
of the grading experiment `labels.experiment` at `labels.tracking_uri`, after
checking that `labels.input` (written by `python -m nbjudge grading status`)
holds the digest of those grades. Prints a one-line summary.
"""

from __future__ import annotations

import sys

from nbjudge.benchmark.labels import import_labels, summarize_labels
from nbjudge.benchmark.panel import panel_labels
from nbjudge.schemas import Notebook, read_records, write_records
from nbjudge.stage import StageCommand, run_stage


def main(argv: list[str] | None = None) -> None:
    stage = StageCommand("label", __doc__).path("--index").path("--out")
    args, params = stage.parse(argv, "labels", "seed")
    config = params.labels
    if config.source == "panel":
        labels = panel_labels(config.input, args.index,
                              config.panel.model_dump(exclude_unset=True), params.seed)
        write_records(args.out, labels)
    elif config.source == "file":
        notebooks = read_records(args.index, Notebook)
        labels = import_labels(config.path, [n.notebook_id for n in notebooks], args.out,
                               index_path=args.index)
    else:
        from nbjudge.grading import import_grades, resolve_tracking_uri

        notebooks = read_records(args.index, Notebook)
        labels = import_grades(resolve_tracking_uri(config.tracking_uri), config.experiment,
                               [n.notebook_id for n in notebooks], args.out,
                               digest_path=config.input)
    stage.done(f"{summarize_labels(labels)} -> {args.out}")


if __name__ == "__main__":
    sys.exit(run_stage(main))
