"""The boundary of nbjudge.report, what it keeps out, and its packaged templates."""

import subprocess
import sys
from importlib import resources
from pathlib import Path

import nbjudge.report
from testing.package_checks import assert_imports_only_schemas

PACKAGE = Path(nbjudge.report.__file__).parent


def test_imports_no_judge_llm_client_or_mlflow():
    # The statistics' settings type gives the report its defaults; stats is pure too, and
    # the exception root imports nothing. The comparison section runs the release gate
    # (pure: records in, verdicts out) with the parameters' compare.gate.
    for folder in (PACKAGE, PACKAGE / "sections"):
        assert_imports_only_schemas(folder, also=("nbjudge.stats", "nbjudge.errors",
                                                  "nbjudge.compare.gate", "nbjudge.params"))


def test_importing_the_report_loads_no_llm_client_or_tracking():
    """What the report imports, transitively (the gate's package included)."""
    code = ("import sys, nbjudge.report; print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'mlflow', 'dspy', 'litellm', 'openai', 'anthropic'}))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, timeout=120)
    assert result.stdout.strip() == "[]"


def test_templates_ship_inside_the_package():
    templates = resources.files("nbjudge.report") / "templates"
    assert (templates / "report.html").is_file()
    assert (templates / "report.css").is_file()
