"""What a report holds: sections of text, tables and figures, and the summary numbers.

``report.build_report`` fills these; ``render`` writes them as HTML or Markdown and
``export`` writes the DataFrames behind them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from structconv.core import to_jsonable

SUMMARY_ID = "structconv-summary"


@dataclass
class Table:
    caption: str
    frame: pd.DataFrame
    collapsed: bool = False            # HTML: inside <details>


@dataclass
class Section:
    id: str
    title: str
    text: list = field(default_factory=list)        # plain-text paragraphs
    tables: list = field(default_factory=list)      # Table
    figures: list = field(default_factory=list)     # (name, plotly Figure)
    missing: list = field(default_factory=list)     # "not available: ..." lines

    def table(self, caption: str, frame: pd.DataFrame, collapsed: bool = False) -> None:
        self.tables.append(Table(caption, frame, collapsed))


@dataclass
class Report:
    title: str
    summary: dict
    sections: list
    notices: list
    inputs: dict
    frames: dict = field(default_factory=dict)     # the DataFrames behind the sections

    def to_dict(self) -> dict:
        """Summary, inputs, notices and each section's title, figures, tables and missing lines."""
        return {"title": self.title, "summary": summary_jsonable(self.summary), "inputs": self.inputs,
                "notices": list(self.notices),
                "sections": [{"id": s.id, "title": s.title, "figures": [n for n, _ in s.figures],
                              "tables": [t.caption for t in s.tables], "missing": list(s.missing)}
                             for s in self.sections]}

    def section(self, sid: str) -> Section:
        for s in self.sections:
            if s.id == sid:
                return s
        raise KeyError(f"no section {sid!r}")


def summary_jsonable(summary: dict) -> dict:
    """The summary as plain JSON data; a non-finite number (no dense energy, say) becomes null."""
    return {k: _finite_or_none(v) for k, v in to_jsonable(summary).items()}


def _finite_or_none(v):
    return None if isinstance(v, float) and (v != v or v in (float("inf"), float("-inf"))) else v
