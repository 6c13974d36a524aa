"""Human grading in MLflow's UI: grading traces, and the grades read back as labels.

``python -m nbjudge grading start`` logs one trace per notebook and rater
(:func:`nbjudge.grading.start.start_grading`, in its own module: reading grades needs
neither rubrics nor notebook rendering); graders add a Feedback per dimension in ``mlflow ui``;
``grading status`` reports progress and problems and writes the digest the ``label``
stage depends on; ``labels=mlflow`` imports the grades (:func:`import_grades`);
``grading export`` writes them as a label file for ``labels=file``.
"""

from nbjudge.grading.reader import (
    GradeError,
    GradeProblem,
    GradeSet,
    export_grades,
    grades_from_traces,
    import_grades,
    read_grades,
    write_digest,
)
from nbjudge.grading.status import status_lines
from nbjudge.grading.traces import DEFAULT_EXPERIMENT, grading_traces, resolve_tracking_uri

__all__ = [
    "DEFAULT_EXPERIMENT",
    "GradeError",
    "GradeProblem",
    "GradeSet",
    "export_grades",
    "grades_from_traces",
    "grading_traces",
    "import_grades",
    "read_grades",
    "resolve_tracking_uri",
    "status_lines",
    "write_digest",
]
