"""Stage `label`: expert labels for every notebook, simulated or imported.

Reads the ``labels`` section of ``params.yaml`` and the top-level ``seed``:
``labels.source: panel`` simulates an expert panel from the blueprint
(``labels.input``), ``labels.source: file`` imports ``labels.path`` checked
against the notebook index. Writes ``data/labels/labels.jsonl`` and prints a
one-line summary.

    python -m stages.label [--params params.yaml] [--index ...] [--out ...]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from nbjudge.benchmark.labels import import_labels, summarize_labels
from nbjudge.benchmark.panel import empty_blueprint_message, panel_config, simulate_panel
from nbjudge.config import as_plain, load_params
from nbjudge.schemas import BlueprintEntry, Notebook, RecordError, read_records, write_records


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--index", default="data/notebooks/index.jsonl")
    parser.add_argument("--out", default="data/labels/labels.jsonl")
    args = parser.parse_args(argv)
    try:
        params = load_params(args.params, "labels", "seed")
        config = params.labels
        if config.source == "panel":
            blueprint = read_records(config.input, BlueprintEntry)
            if not blueprint:
                origins = ({n.origin for n in read_records(args.index, Notebook)}
                           if Path(args.index).exists() else set())
                raise ValueError(empty_blueprint_message(origins))
            panel = panel_config(**as_plain(config.panel))
            labels = simulate_panel(blueprint, panel, np.random.default_rng(int(params.seed)))
            write_records(args.out, labels)
        elif config.source == "file":
            notebooks = read_records(args.index, Notebook)
            labels = import_labels(
                config.path, [n.notebook_id for n in notebooks], args.out, index_path=args.index
            )
        else:
            raise SystemExit(f"label: labels.source must be panel or file, got {config.source!r}")
    except (RecordError, ValueError) as exc:
        # The messages name the file, line and fix; a traceback would only bury them.
        raise SystemExit(f"label: {exc}") from None
    print(f"label: {summarize_labels(labels)} -> {args.out}")


if __name__ == "__main__":
    main()
