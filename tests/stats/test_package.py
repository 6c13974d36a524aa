"""The boundary of nbjudge.stats and what it keeps out."""

from pathlib import Path

import nbjudge.stats
from testing.package_checks import assert_imports_only_schemas

PACKAGE = Path(nbjudge.stats.__file__).parent


def test_imports_nothing_but_schemas_from_nbjudge_and_no_mlflow_or_llm_client():
    assert_imports_only_schemas(PACKAGE)
