"""The boundary of nbjudge.report, what it keeps out, and its packaged templates."""

from importlib import resources
from pathlib import Path

import nbjudge.report
from testing.package_checks import assert_imports_only_schemas

PACKAGE = Path(nbjudge.report.__file__).parent


def test_imports_no_judge_llm_client_or_mlflow():
    # The statistics' settings type gives the report its defaults; stats is pure too, and
    # the exception root imports nothing.
    for folder in (PACKAGE, PACKAGE / "sections"):
        assert_imports_only_schemas(folder, also=("nbjudge.stats", "nbjudge.errors"))


def test_templates_ship_inside_the_package():
    templates = resources.files("nbjudge.report") / "templates"
    assert (templates / "report.html").is_file()
    assert (templates / "report.css").is_file()
