"""Golden digests of the procedural generator's output.

A refactoring of the generator must not change a byte of what it writes for a
seed: the notebooks are the benchmark, and their blueprint is the truth the
panel grades from. ``golden_notebooks.json`` pins, at the project seed, the
sha256 of every notebook file of the demo8 and bench50 suites and of each
notebook's blueprint, plus a sweep of the demo8 cases over many seeds (which
reaches nearly every template). After an intended change to the notebooks,
regenerate it from the repository root::

    python -m tests.benchmark.golden

Only names exported by ``nbjudge.benchmark`` are used, so the same code
records the digests of older versions of the generator too.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from pathlib import Path

import nbformat

from nbjudge.benchmark import build_cases, generate_notebooks, write_notebook

GOLDEN = Path(__file__).with_name("golden_notebooks.json")
SUITES = ("demo8", "bench50")
SEED = 42  # `seed` in conf/config.yaml
SWEEP_SEEDS = range(60)


def _sha256(data: bytes | str) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def _blueprint_digest(entries) -> str:
    """Field values only, not names: a renamed field leaves the digest as it was."""
    values = [list(e.model_dump(mode="json", exclude={"schema_version"}).values())
              for e in entries]
    return _sha256(json.dumps(values))


def suite_digests(suite: str, seed: int, workdir: Path) -> dict[str, dict[str, str]]:
    """Generate the suite's notebooks under ``workdir``; digests keyed by notebook id."""
    cases = build_cases(f"data/suites/{suite}.yaml", seed, workdir / suite / "datasets")
    out_dir = workdir / suite / "notebooks"
    index, blueprint = generate_notebooks(cases, seed, out_dir, root=workdir)
    return {
        entry.notebook_id: {
            "notebook": _sha256((out_dir / f"{entry.notebook_id}.ipynb").read_bytes()),
            "blueprint": _blueprint_digest(
                [b for b in blueprint if b.notebook_id == entry.notebook_id]),
        }
        for entry in index
    }


def sweep_digests(workdir: Path) -> dict[str, str]:
    """One digest per seed over the demo8 cases' first notebook, text and blueprint."""
    cases = build_cases("data/suites/demo8.yaml", SEED, workdir / "sweep")
    digests = {}
    for seed in SWEEP_SEEDS:
        parts = []
        for case in cases:
            written = write_notebook(case, f"{case.case_id}__01", seed)
            parts += [nbformat.writes(written.notebook), _blueprint_digest(written.blueprint)]
        digests[str(seed)] = _sha256("\n".join(parts))
    return digests


def compute(workdir: Path) -> dict:
    return {
        "seed": SEED,
        "suites": {suite: suite_digests(suite, SEED, workdir) for suite in SUITES},
        "sweep": {"suite": "demo8", "digests": sweep_digests(workdir)},
    }


def main() -> None:
    with tempfile.TemporaryDirectory() as workdir:
        golden = compute(Path(workdir))
    GOLDEN.write_text(json.dumps(golden, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    count = sum(len(digests) for digests in golden["suites"].values())
    print(f"{GOLDEN}: {count} notebooks, {len(golden['sweep']['digests'])} sweep seeds")


if __name__ == "__main__":
    sys.exit(main())
