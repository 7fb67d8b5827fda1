"""Reports: a study's results as one self-contained, offline HTML page of altair charts.

Results flow in one direction: the table of predicted points (:mod:`sparsim.studies`) is
aggregated (:mod:`~sparsim.reports.aggregate`), drawn (:mod:`~sparsim.reports.charts`),
summarised in plain words (:mod:`~sparsim.reports.summary`) and written into one page
(:mod:`~sparsim.reports.html`) that loads nothing from the network. Nothing here knows
how the times were predicted.

>>> from sparsim.reports import build_report, write_report
"""

from .report import build_report, write_report

__all__ = ["build_report", "write_report"]
