"""The boundaries nbjudge.controls keeps: records, statistics and folds, no judge or LLM."""

from pathlib import Path

import nbjudge.controls
from testing.package_checks import assert_imports_only_schemas

PACKAGE = Path(nbjudge.controls.__file__).parent


def test_controls_call_no_model():
    assert_imports_only_schemas(PACKAGE, also=("nbjudge.stats", "nbjudge.alignment.folds"))
