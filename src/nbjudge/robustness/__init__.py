"""Robustness of the judges: how far a notebook can move its judge without changing its
quality, and the defences.

- :mod:`~nbjudge.robustness.scanner`: finds text in a notebook addressed to a grader or
  imitating a verdict or a system prompt (where, what), and strips it;
- :mod:`~nbjudge.robustness.variants`: the metamorphic suite, variants of a notebook whose
  expected effect is known (injection and cosmetic: none; defect: one dimension falls);
- :mod:`~nbjudge.robustness.suite`: the suite written, executed where code changed, and
  judged with the judges under each defence, for the `robustness` stage.

The measures are pure functions in :mod:`nbjudge.stats.robustness`. This package's
``__init__`` imports nothing, so the judges can use the scanner without a cycle.
"""
