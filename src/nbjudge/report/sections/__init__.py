"""The report's sections, one module each, each with a typed record the template reads.

:mod:`~nbjudge.report.sections.cells` formats every number; the section
modules build their records from :class:`~nbjudge.report.inputs.ReportInputs`
and the :class:`~nbjudge.report.view.ReportView`;
:func:`nbjudge.report.context.build_context` assembles them.
"""
