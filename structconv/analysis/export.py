"""The DataFrames behind a report as files: CSV, or Parquet when pyarrow is installed."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from structconv.core import atomic_path, shown

SUFFIXES = (".csv", ".parquet")
#: a cell starting with one of these is a formula to a spreadsheet (=HYPERLINK(...), +cmd|..., @SUM, and the
#: tab / carriage return that some parsers skip before one): OWASP's CSV-injection list
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def export_frame(df: pd.DataFrame, path) -> Path:
    """Write CSV or Parquet (by suffix) atomically."""
    path = Path(path)
    if path.suffix not in SUFFIXES:
        raise ValueError(f"export path suffix = {shown(path.suffix)} must be one of {list(SUFFIXES)}")
    if path.suffix == ".parquet":
        _need_pyarrow()
    with atomic_path(path, suffix=path.suffix) as tmp:
        if path.suffix == ".csv":
            # CRLF (RFC 4180): the writer then quotes a cell holding a bare CR, which "\n" would leave
            # unquoted, splitting a row wherever a name holds one
            _spreadsheet_safe(df).to_csv(tmp, index=False, lineterminator="\r\n")
        else:
            _parquet_safe(df).to_parquet(tmp, index=False)
    return path


def _need_pyarrow() -> None:
    try:
        import pyarrow  # noqa: F401  - optional dependency, only for Parquet
    except ImportError:
        raise ValueError("Parquet export needs pyarrow (pip install pyarrow), or use a .csv path") from None


def neutralise_cell(value):
    """A text cell a spreadsheet would run as a formula, quoted with a leading apostrophe (shown as text);
    numbers and other text unchanged. Names come from files others wrote (layer, model, accelerator)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _spreadsheet_safe(df: pd.DataFrame) -> pd.DataFrame:
    """Every text cell and column name through ``neutralise_cell``: a CSV opened in a spreadsheet shows
    a hostile name, it does not evaluate it."""
    out = df.rename(columns=neutralise_cell)
    for c in out.columns:
        if out[c].dtype == object or pd.api.types.is_string_dtype(out[c]):
            out[c] = out[c].map(neutralise_cell)
    return out


def _parquet_safe(df: pd.DataFrame) -> pd.DataFrame:
    """Object columns holding mixed types become strings (Parquet columns have one type)."""
    out = df.copy()
    for c in out.columns:
        if out[c].dtype == object:
            kinds = {type(v) for v in out[c].dropna()}
            if len(kinds) > 1 or (kinds and not kinds <= {str}):
                out[c] = out[c].map(lambda v: None if v is None or (isinstance(v, float) and v != v)
                                    else str(v))
    return out


def export_tables(rep, out_dir, fmt: str = "csv") -> list[Path]:
    """Every DataFrame behind the report (``rep.frames``) as CSV or Parquet files in ``out_dir``."""
    return [export_frame(df, Path(out_dir) / f"{name}.{fmt}") for name, df in rep.frames.items()]
