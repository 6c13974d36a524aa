"""Human grading in MLflow's UI: grading traces, and the grades read back as labels.

``python -m nbjudge grading start`` logs one trace per notebook and rater and puts them
in each rater's review queue, whose form asks the nine dimensions
(:func:`nbjudge.grading.start.start_grading`, :mod:`nbjudge.grading.forms`, in their own
modules: reading grades needs neither rubrics nor notebook rendering); graders answer it
in ``mlflow ui``, or sign in first through ``grading serve`` (:mod:`nbjudge.grading.serve`)
so that grades carry their names; ``grading status`` reports progress, partial forms and
problems and writes the digest the ``label`` stage depends on; ``labels=mlflow`` imports
the grades (:func:`import_grades`); ``grading export`` writes them as a label file for
``labels=file``.
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
