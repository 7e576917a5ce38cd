"""Writing a Report: one self-contained HTML file, or Markdown with a folder of PNGs.

Both are written atomically: a crash never leaves half a report (nor half a folder of figures).
"""
from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import urllib.parse
from pathlib import Path

import pandas as pd
import plotly.io as pio
import plotly.offline

from structconv.core import atomic_write_text, printable, remove_orphans, shown, umask

from .document import SUMMARY_ID, Report, Section, summary_jsonable
from .markup import content_security_policy, html_text, md_text

PLOTLYJS_ID = "plotlyjs"


# -- cells -----------------------------------------------------------------------------------
def _fmt_float(v: float, col: str) -> str:
    if math.isinf(v):
        return "inf"
    if col.startswith("rel_") or col.endswith("_saving"):
        return f"{100 * v:+.2f} %"
    if col.endswith(("ratio", "speedup", "utilization")):
        return f"{v:.4f}"
    if abs(v) >= 1000 and v.is_integer() and abs(v) < 1e15:
        return f"{int(v):,}"
    return f"{v:.4g}"


def _fmt(v, col: str) -> str:
    """A cell as text: thousands separators, percentages for rel_*/*_saving, 4 digits for ratios."""
    kind = getattr(getattr(v, "dtype", None), "kind", "")
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int) or (kind and kind in "iu"):
        return f"{int(v):,}"
    if isinstance(v, float) or kind == "f":
        return _fmt_float(float(v), col)
    if isinstance(v, (tuple, list)):
        return ", ".join(_fmt(x, col) for x in v)
    return printable(str(v), 120)


def _cells(df: pd.DataFrame) -> list[list[str]]:
    cols = list(df.columns)
    return [[_fmt(v, c) for v, c in zip(row, cols)] for row in df.itertuples(index=False, name=None)]


def table_html(df: pd.DataFrame) -> str:
    head = "".join(f"<th>{html_text(printable(str(c), 120))}</th>" for c in df.columns)
    body = "\n".join("<tr>" + "".join(f"<td>{html_text(c)}</td>" for c in row) + "</tr>"
                     for row in _cells(df))
    return f'<table class="data"><thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table>'


def table_md(df: pd.DataFrame) -> str:
    def cell(text: str) -> str:
        return md_text(text, inline=True)

    lines = ["| " + " | ".join(cell(printable(str(c), 120)) for c in df.columns) + " |",
             "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in _cells(df)]
    return "\n".join(lines)


def summary_cards(s: dict) -> list[tuple[str, str, str]]:
    """(label, value, detail) for the boxes at the top."""
    def pct(x):
        return "n/a" if x is None else f"{100 * x:+.1f} %"

    cards = []
    if s.get("speedup") is not None:
        cards.append(("speedup", f"{s['speedup']:.3f}x",
                      f"{s['orig_cycles_total']:,} -> {s['cycles_total']:,} cycles"))
        cards.append(("energy saving", pct(s.get("energy_saving")),
                      f"{s['orig_energy_pj'] / 1e6:,.1f} -> {s['energy_pj'] / 1e6:,.1f} uJ"))
    cards.append(("params saving", pct(s["params_saving"]), f"{s['orig_params']:,} -> {s['params']:,}"))
    cards.append(("mults saving", pct(s["mults_saving"]), f"{s['orig_mults']:,} -> {s['mults']:,}"))
    if s.get("accuracy_change") is not None:
        cards.append(("accuracy change", f"{s['accuracy_change']:+.2f} pp",
                      f"{s['acc_before']:.2f} % -> {s['acc_after']:.2f} % (decomposition)"))
    else:
        cards.append(("accuracy change", "n/a", "no finished training run"))
    return cards


# -- HTML ------------------------------------------------------------------------------------
_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;max-width:1400px;\
padding:16px 24px;color:#222}
h1{font-size:1.5em;margin-bottom:4px} h2{border-bottom:2px solid #ddd;padding-bottom:4px;margin-top:36px}
.meta{color:#666;font-size:.9em}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}
.card{border:1px solid #ddd;border-radius:8px;padding:10px 16px;min-width:170px;background:#fafafa}
.card .label{font-size:.8em;color:#666;text-transform:uppercase;letter-spacing:.04em}
.card .value{font-size:1.6em;font-weight:600}
.card .detail{font-size:.8em;color:#555}
.missing{color:#a94442;background:#fdf1f0;border-left:4px solid #d9534f;padding:6px 10px;margin:6px 0}
table.data{border-collapse:collapse;font-size:.82em;margin:8px 0}
table.data th,table.data td{border:1px solid #ddd;padding:3px 7px;text-align:right;white-space:nowrap}
table.data th{background:#f0f0f0;position:sticky;top:0}
table.data td:first-child,table.data th:first-child{text-align:left}
.tablewrap{max-height:480px;overflow:auto}
.figure{margin:12px 0;min-height:420px}
nav a{margin-right:14px}
"""


def _cards_html(summary: dict) -> str:
    e = html_text
    return '<div class="cards">' + "".join(
        f'<div class="card"><div class="label">{e(l)}</div><div class="value">{e(v)}</div>'
        f'<div class="detail">{e(d)}</div></div>' for l, v, d in summary_cards(summary)) + "</div>"


def _figure_html(name: str, fig) -> str:
    div = fig.to_html(full_html=False, include_plotlyjs=False, include_mathjax=False, div_id=f"fig-{name}",
                      default_width="100%", config={"displaylogo": False, "responsive": True})
    return f'<div class="figure">{div}</div>'


def _table_html(t) -> str:
    inner = f'<div class="tablewrap">{table_html(t.frame)}</div>'
    if t.collapsed:
        return f"<details><summary>{html_text(t.caption)} ({len(t.frame)} rows)</summary>{inner}</details>"
    return f"<h3>{html_text(t.caption)}</h3>{inner}"


def _section_html(s: Section, summary: dict) -> str:
    parts = [f'<section id="{html_text(s.id)}"><h2>{html_text(s.title)}</h2>']
    if s.id == "summary":
        parts.append(_cards_html(summary))
    parts += [f'<p class="missing">{html_text(m)}</p>' for m in s.missing]
    parts += [f"<p>{html_text(t)}</p>" for t in s.text]
    parts += [_figure_html(name, fig) for name, fig in s.figures]
    parts += [_table_html(t) for t in s.tables]
    return "".join(parts) + "</section>"


def render_html(rep: Report) -> str:
    """One self-contained HTML document: plotly.js inline once, no external resources, every interpolated
    string through ``markup.html_text``, and a Content-Security-Policy under which only the document's own
    scripts run."""
    e, i = html_text, rep.inputs
    nav = " ".join(f'<a href="#{e(s.id)}">{e(s.title.split(":")[0])}</a>' for s in rep.sections)
    meta = (f"model {e(i['model'])} &middot; hw {e(i['hw'])} &middot; plan {e(i['plan'])} &middot; "
            f"generated {e(i['created'])} by structconv")
    head = ("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{e(rep.title)}</title><style>{_CSS}</style>"
            f'<script type="text/javascript" id="{PLOTLYJS_ID}">{plotly.offline.get_plotlyjs()}</script>'
            f'<script type="application/json" id="{SUMMARY_ID}">{_json_data(rep)}</script>')
    body = (f"<h1>{e(rep.title)}</h1><p class=\"meta\">{meta}</p><nav>{nav}</nav>\n"
            + "\n".join(_section_html(s, rep.summary) for s in rep.sections) + "\n")
    csp = f'<meta http-equiv="Content-Security-Policy" content="{e(content_security_policy(head + body))}">'
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"{csp}{head}</head><body>{body}</body></html>\n")


def _json_data(rep: Report) -> str:
    """The summary for scripts: JSON with ``< > &`` as \\u escapes: no name can end or re-open the block."""
    text = json.dumps({"summary": summary_jsonable(rep.summary), "inputs": rep.inputs,
                       "notices": rep.notices})
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


# -- Markdown --------------------------------------------------------------------------------
def static_export_available() -> tuple[bool, str]:
    """Whether plotly can write PNGs here (kaleido + a local Chrome/Chromium), and why not."""
    try:
        import kaleido  # noqa: F401  - optional: only the Markdown figures need it
    except ImportError:
        return False, "kaleido is not installed (pip install kaleido)"
    return True, ""


def write_pngs(rep: Report, image_dir, image_prefix: str = "") -> tuple[dict, str]:
    """Every figure as ``image_dir/<name>.png``: ({name: link}, "") or ({}, why not)."""
    ok, why = static_export_available()
    if not ok:
        return {}, why
    figs = [(name, fig) for s in rep.sections for name, fig in s.figures]
    try:
        pio.write_images([f for _, f in figs], [str(Path(image_dir) / f"{n}.png") for n, _ in figs],
                         format="png", width=1200, height=520)
    except Exception as e:  # no browser, sandbox trouble, ...
        return {}, str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return {name: f"{image_prefix}{name}.png" for name, _ in figs}, ""


def _section_md(s: Section, summary: dict, images: dict) -> list[str]:
    m = md_text
    out = [f"## {m(s.title, inline=True)}", ""]
    if s.id == "summary":
        cards = [[md_text(x, inline=True) for x in card] for card in summary_cards(summary)]
        out += ["| " + " | ".join(l for l, _, _ in cards) + " |", "|" + "---|" * len(cards),
                "| " + " | ".join(f"**{v}** ({d})" for _, v, d in cards) + " |", ""]
    out += [f"> {m(x)}" for x in s.missing] + ([""] if s.missing else [])
    for t in s.text:
        out += [m(t), ""]
    out += [line for name, _ in s.figures if name in images
            for line in (f"![{m(name, inline=True)}]({_md_link(images[name])})", "")]
    for t in s.tables:
        out += [f"**{m(t.caption, inline=True)}**", "", table_md(t.frame), ""]
    return out


def _md_link(path: str) -> str:
    """A relative link target: percent-encoded, so a file name cannot close the link or start another."""
    return urllib.parse.quote(path, safe="/")


def render_markdown(rep: Report, image_dir: Path | None, image_prefix: str = "") -> tuple[str, list]:
    """Markdown text and (when ``image_dir`` is given and an exporter works) PNGs written there; every
    interpolated string through ``markup.md_text``. Returns (markdown, notes)."""
    images, notes = {}, []
    if image_dir is not None:
        images, why = write_pngs(rep, image_dir, image_prefix)
        if why:
            notes.append(f"figures are not included: no static image exporter works here ({why}); "
                         "use --format html for the interactive figures")
    m, i = md_text, rep.inputs
    out = [f"# {m(rep.title, inline=True)}", "", f"model {m(i['model'], inline=True)} · hw "
           f"{m(i['hw'], inline=True)} · plan {m(i['plan'], inline=True)} · generated "
           f"{m(i['created'], inline=True)} by structconv", ""]
    for n in notes:
        out += [f"> Note: {m(n)}", ""]
    for s in rep.sections:
        out += _section_md(s, rep.summary, images)
    return "\n".join(out) + "\n", notes


# -- files -------------------------------------------------------------------------------------
def write_report(rep: Report, path, fmt: str | None = None) -> Path:
    """Write the report atomically (HTML, or Markdown with a ``<stem>_files/`` folder of PNGs)."""
    path = Path(path)
    fmt = fmt or ("md" if path.suffix.lower() in (".md", ".markdown") else "html")
    if fmt not in ("html", "md"):
        raise ValueError(f"format = {shown(fmt)} is not one of ['html', 'md']")
    if path.exists() and path.is_dir():
        raise ValueError(f"output {shown(str(path))} is a directory")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ValueError(f"cannot write {shown(str(path))}: {e.strerror or e}") from None
    if fmt == "html":
        atomic_write_text(path, render_html(rep))
    else:
        _write_markdown(rep, path)
    return path


def _write_markdown(rep: Report, path: Path) -> None:
    """The figures go to a temporary folder renamed into place once all are written."""
    img_dir = path.parent / f"{path.stem}_files"
    remove_orphans(path.parent, f".{path.stem}_files.")
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.stem}_files.{os.getpid()}."))
    try:
        text, notes = render_markdown(rep, tmp, image_prefix=f"{img_dir.name}/")
        rep.notices.extend(notes)
        if any(tmp.iterdir()):
            os.chmod(tmp, 0o777 & ~umask())        # mkdtemp makes it 0700; a folder of figures is not secret
            if img_dir.exists():
                shutil.rmtree(img_dir)
            os.replace(tmp, img_dir)
        atomic_write_text(path, text)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
