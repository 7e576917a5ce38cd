"""Names never become markup, and a report's data never runs code (issue 21, deliverable 3).

Every report section is built from inputs whose every user-controlled name is hostile (``hostile_inputs``):
the ONNX file's name and layer names, the accelerator's and the plan's ``name:``, run directories and
what their summaries record, a search directory's study, metric, source, attribute and plan-file names,
baseline plans and the accuracy benchmark's plan ids. We check the written HTML (no element or attribute
from a name; the Content-Security-Policy), the figures' data (no plotly markup from a name), the
Markdown (no raw HTML, link or block from a name), that a Python reference a file records is never run,
and in headless Chromium that no payload runs, with or without the policy, while every figure renders.
"""
from __future__ import annotations

import json
import re
import tempfile
import time
import warnings
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import pytest

from structconv.analysis.markup import html_text, md_text
from structconv.core import printable
from tests.analysis import hostile_inputs as H
from tests.analysis.browser import CDP, CHROMIUM, RENDER_CHECK

FIGURES = ("layer_cycles", "energy", "layer_energy", "roofline", "pareto", "history", "accuracy_vs_cycles",
           "training_curves", "accuracy")
# every element the report writes itself
TAGS = {"html", "head", "meta", "title", "style", "script", "body", "h1", "h2", "h3", "p", "nav", "a",
        "section", "div", "details", "summary", "table", "thead", "tbody", "tr", "th", "td"}
CSP_RE = re.compile(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)">')
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (Debian: apt-get "
                                    "install chromium); set CHROMIUM=/path/to/chrome to use another")


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    from structconv.analysis import build_report, write_report
    from structconv.analysis.render import render_markdown
    from structconv.core import resolve_network

    d = tmp_path_factory.mktemp("hostile")
    onnx, layers = H.onnx_model(d)
    net = resolve_network(str(onnx))
    ref, marker = H.payload_module(d)
    accel = H.accelerator_file(d)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                  # optuna: set_metric_names is experimental
        search = H.search_dir(d, net, H.HOSTILE, ref)
    rep = build_report(str(onnx), hw=str(accel), plan=str(H.plan_file(d, net)), search_dir=search,
                       runs=H.run_dirs(d, net, ref), baselines=H.baselines(),
                       ground_truth=H.ground_truth_file(d))
    path = write_report(rep, d / "report.html")
    return SimpleNamespace(rep=rep, net=net, layers=layers, ref=ref, marker=marker, path=path,
                           html=path.read_text(encoding="utf-8"), md=render_markdown(rep, None)[0])


def test_every_section_is_built_from_the_hostile_names(hostile):
    """The fixture reaches every section, so the checks below cover them all."""
    rep = hostile.rep
    assert [s.id for s in rep.sections] == ["summary", "layers", "plans", "search", "ground_truth",
                                            "training", "paper"]
    assert [n for s in rep.sections for n, _ in s.figures] == list(FIGURES)
    assert all(not s.missing for s in rep.sections) and rep.notices == []
    assert (rep.inputs["model"], rep.inputs["hw"], rep.inputs["plan"]) == (H.NO_SLASH, H.HOSTILE, H.HOSTILE)
    assert [layer.name for layer in hostile.net.layers] == hostile.layers
    assert rep.section("search").text[0].startswith(f"Study '{H.SCRIPT}")


class Elements(HTMLParser):
    """Every start tag with its attributes, and the text of each script element."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags, self.scripts, self._in_script = [], [], None

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self._in_script = (dict(attrs), [])

    def handle_data(self, data):
        if self._in_script is not None:
            self._in_script[1].append(data)

    def handle_endtag(self, tag):
        if tag == "script" and self._in_script is not None:
            self.scripts.append((self._in_script[0], "".join(self._in_script[1])))
            self._in_script = None


def test_html_holds_no_element_or_attribute_from_a_name(hostile):
    page = Elements()
    page.feed(hostile.html)
    assert {t for t, _ in page.tags} <= TAGS, {t for t, _ in page.tags} - TAGS
    attrs = [(t, k, v or "") for t, a in page.tags for k, v in a.items()]
    assert not [a for a in attrs if a[1].startswith("on")]
    assert not [a for a in attrs if "javascript:" in a[2].lower()]
    kinds = [a.get("type") for a, _ in page.scripts]
    assert kinds == ["text/javascript", "application/json"] + [None] * len(FIGURES)
    assert all("Plotly.newPlot" in text for a, text in page.scripts if a.get("type") is None)
    assert "\u202e" not in hostile.html
    # each name is there, as text
    e, rep = html_text, hostile.rep
    meta = f'<p class="meta">model {e(H.NO_SLASH)} &middot; hw {e(H.HOSTILE)} &middot; plan {e(H.HOSTILE)}'
    assert meta in hostile.html
    assert all(f"<td>{e(name)}</td>" in hostile.html for name in hostile.layers)
    assert f"<title>{e(rep.title)}</title>" in hostile.html and f"<h1>{e(rep.title)}</h1>" in hostile.html


def test_the_summary_data_block_keeps_the_names_as_data(hostile):
    """JSON with < > & escaped: no name can close the block, and the names read back unchanged."""
    m = re.search(r'<script type="application/json" id="structconv-summary">(.*?)</script>', hostile.html,
                  re.S)
    assert not re.search(r"[<>&]", m.group(1))
    data = json.loads(m.group(1))
    assert (data["inputs"]["model"], data["inputs"]["hw"], data["inputs"]["plan"]) == (H.NO_SLASH, H.HOSTILE,
                                                                                         H.HOSTILE)


def _strings(obj):
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _strings(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _strings(v)


def test_figures_hold_no_plotly_markup_from_a_name(hostile):
    """Plotly reads <b>, <a href>, <br> ... in every label: the only tags left are the hover templates'."""
    for name, fig in ((n, f) for s in hostile.rep.sections for n, f in s.figures):
        texts = list(_strings(fig.to_plotly_json()))
        tags = {t for s in texts for t in re.findall(r"<[^>]*>?", s)}
        assert tags <= {"<br>", "<extra>", "</extra>"}, (name, tags)
        assert not [s for s in texts if "\u202e" in s], name
    cycles = dict(hostile.rep.section("layers").figures)["layer_cycles"]
    assert list(cycles.data[0].x[0][:4]) == [html_text(n) for n in hostile.layers]


def test_the_content_security_policy_runs_only_the_reports_own_scripts(hostile):
    import base64
    import hashlib

    html = hostile.html
    m = CSP_RE.search(html)
    assert m and m.start() < html.index("<script")
    policy = {d.split()[0]: d.split()[1:] for d in m.group(1).replace("&#39;", "'").split("; ")}
    page = Elements()
    page.feed(html)
    own = {"'sha256-" + base64.b64encode(hashlib.sha256(t.encode()).digest()).decode() + "'"
           for a, t in page.scripts if a.get("type") != "application/json"}
    assert set(policy["script-src"]) == own and len(own) == len(FIGURES) + 1
    assert policy["default-src"] == policy["object-src"] == policy["base-uri"] == ["'none'"]
    assert policy["connect-src"] == policy["form-action"] == ["'none'"]
    assert policy["style-src"] == ["'unsafe-inline'"] and policy["img-src"] == ["data:", "blob:"]


def _unescaped(md: str, chars: str) -> list[str]:
    return re.findall(r"(?<!\\)(?:\\\\)*([" + re.escape(chars) + "])", md)


def test_markdown_holds_no_raw_html_link_or_block_from_a_name(hostile):
    md = hostile.md
    assert "<" not in md and "\u202e" not in md          # no raw HTML at all: the report writes none itself
    assert _unescaped(md, "[]`~$") == []                   # no link, image, code span from a name
    lines = md.splitlines()
    assert [x for x in lines if x and not x.startswith(("# ", "## ", "> ", "| ", "|---", "**"))
            and re.match(r"\s|[-+=#>*`~<|]|\d+[.)]", x)] == []
    for block in re.split(r"\n\n", md):                    # every table row has its header's cells
        rows = [x for x in block.splitlines() if x.startswith("|")]
        assert len({len(_unescaped(r, "|")) for r in rows}) <= 1, rows
    m = md_text
    assert f"model {m(H.NO_SLASH, inline=True)} · hw {m(H.HOSTILE, inline=True)}" in md
    assert all(f"| {m(name, inline=True)} |" in md for name in hostile.layers)
    assert m(H.MD_LINK + H.PIPE, inline=True) == "\\[x\\](javascript:window.\\_\\_pwned=5)a\\|b"
    assert m(H.SCRIPT) in md


def test_a_python_reference_that_a_file_records_is_never_run(hostile):
    """The runs' summaries and the search's best plan record ``payload.py:build``: the report names it
    and how to confirm it, and never imports it."""
    assert not hostile.marker.exists()
    text = " ".join(hostile.rep.section("training").text)
    assert "The runs record model reference '" in text and "give it as the report's MODEL" in text
    assert hostile.ref.split("/")[-1] in text


def test_the_cli_echoes_no_raw_control_or_bidi_character(hostile, tmp_path, capsys):
    """Progress lines and notices quote the names through ``printable``: nothing reorders the terminal."""
    from structconv.cli import main

    onnx = next(hostile.path.parent.glob("*.onnx"))
    rc = main(["report", str(onnx), "--hw", str(hostile.path.parent / "accel.yaml"), "--no-paper",
               "--run", str(tmp_path / H.NO_SLASH), "-o", str(tmp_path / "r.md")])
    out, err = capsys.readouterr()
    assert rc == 0 and "counting and simulating" in err and "does not exist" in err
    assert not [ch for ch in out + err if not (ch.isprintable() or ch == "\n")]
    assert "<" not in (tmp_path / "r.md").read_text(encoding="utf-8")


# -- in the browser -----------------------------------------------------------------------------------
PROBE = """(() => {
  document.querySelectorAll('div.plotly-graph-div').forEach(d => {
    try { Plotly.Fx.hover(d, [{curveNumber: 0, pointNumber: 0}]); } catch (e) {} });
  const all = Array.from(document.querySelectorAll('*'));
  const link = e => ['href', 'xlink:href', 'src', 'action', 'formaction'].some(
    n => (e.getAttribute(n) || '').replace(/\\s/g, '').toLowerCase().startsWith('javascript:'));
  return JSON.stringify({
    pwned: window.__pwned === undefined ? null : window.__pwned,
    on: all.flatMap(e => Array.from(e.attributes).filter(a => a.name.toLowerCase().startsWith('on'))
                                                 .map(a => e.tagName + ' ' + a.name)),
    links: all.filter(link).map(e => e.tagName),
    foreign: all.filter(e => ['IMG', 'IFRAME', 'OBJECT', 'EMBED', 'FORM', 'INPUT'].includes(e.tagName)
                             || (e.tagName.toLowerCase() === 'svg' && !e.closest('.plotly-graph-div')
                                 && e.id !== 'js-plotly-tester'))           // plotly measures text in it
                .map(e => e.tagName),
    scripts: document.scripts.length,
    ticks: Array.from(document.querySelectorAll('#fig-layer_cycles [class^=xtick] text'))
                .map(t => t.textContent),
    violations: window.__csp || []});
})()"""
WATCH = ("window.__csp = []; document.addEventListener('securitypolicyviolation', "
         "e => window.__csp.push(e.violatedDirective + ' ' + (e.sample || e.blockedURI)));")


def open_page(path: Path, tmp: Path, timeout: float = 60) -> dict:
    """Load ``path``, wait for the figures, hover each one, and read back what ran and what the DOM holds."""
    cdp = CDP(Path(tempfile.mkdtemp(prefix="chromium-profile-", dir=tmp)))
    try:
        page = next(t for t in cdp.send("Target.getTargets")["targetInfos"] if t["type"] == "page")
        sid = cdp.send("Target.attachToTarget", {"targetId": page["targetId"], "flatten": True})["sessionId"]
        for dom in ("Runtime", "Page"):
            cdp.send(f"{dom}.enable", session=sid)
        cdp.send("Page.addScriptToEvaluateOnNewDocument", {"source": WATCH}, session=sid)
        t0 = time.monotonic()
        cdp.send("Page.navigate", {"url": path.resolve().as_uri()}, session=sid)
        cdp.wait_event("Page.loadEventFired", timeout)

        def evaluate(expr):
            return json.loads(cdp.send("Runtime.evaluate", {"expression": expr, "returnByValue": True},
                                       session=sid)["result"]["value"])
        state = evaluate(RENDER_CHECK)
        while time.monotonic() - t0 < timeout and not (state["figures"] and
                                                       state["rendered"] == state["figures"]):
            time.sleep(0.05)
            state = evaluate(RENDER_CHECK)
        cdp.drain(0.3)
        return {**state, **evaluate(PROBE)}
    finally:
        cdp.close()


def _variant(hostile, tmp: Path, name: str, csp: bool = True, inject: str = "") -> Path:
    html = hostile.html if csp else CSP_RE.sub("", hostile.html, count=1)
    out = tmp / name
    out.write_text(html.replace("<body>", "<body>" + inject, 1), encoding="utf-8")
    return out


@needs_chromium
def test_no_payload_runs_in_chromium_and_every_figure_renders(hostile, tmp_path):
    r = open_page(hostile.path, tmp_path)
    assert r["figures"] == r["rendered"] == len(FIGURES) and r["empty"] == [], r
    assert r["pwned"] is None and r["on"] == r["links"] == r["foreign"] == [], r
    assert r["violations"] == [], r["violations"]      # nothing even tried to run or load
    assert r["scripts"] == len(FIGURES) + 2
    assert {printable(n) for n in hostile.layers} <= set(r["ticks"]), r["ticks"]   # shown as the names read


@needs_chromium
def test_escaping_alone_keeps_the_payloads_inert(hostile, tmp_path):
    """Without the policy (a browser that ignores it), the names are still only text."""
    r = open_page(_variant(hostile, tmp_path, "no-csp.html", csp=False), tmp_path)
    assert r["figures"] == r["rendered"] == len(FIGURES)
    assert r["pwned"] is None and r["on"] == r["links"] == r["foreign"] == [], r


@needs_chromium
def test_the_policy_blocks_a_payload_that_got_through(hostile, tmp_path):
    """The probe sees a payload run when one does, and the policy alone stops it: defence in depth."""
    raw = '<img src=x onerror="window.__pwned=99"><script>window.__pwned=98</script>'
    ran = open_page(_variant(hostile, tmp_path, "raw.html", csp=False, inject=raw), tmp_path)
    assert ran["pwned"] in (98, 99) and "IMG" in ran["foreign"]
    blocked = open_page(_variant(hostile, tmp_path, "raw-csp.html", inject=raw), tmp_path)
    assert blocked["pwned"] is None and blocked["figures"] == blocked["rendered"] == len(FIGURES)
    assert {v.split()[0] for v in blocked["violations"]} >= {"script-src-elem", "script-src-attr"}, blocked


# -- CSV exports: a name is text to a spreadsheet, never a formula --------------------------------------
FORMULAS = ["=HYPERLINK(\"http://x\",\"y\")", "+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0", "@SUM(A1:A9)",
            "\t=1+1", "\r=1+1"]


def test_csv_export_neutralises_formula_names(tmp_path):
    """Layer, model and column names starting with = + - @ (or a tab / CR before one) come back as text
    behind an apostrophe; numbers, negative ones included, and plain names are written as they are."""
    import csv

    import pandas as pd

    from structconv.analysis import export_frame

    df = pd.DataFrame({"layer": FORMULAS + ["conv1"], "cycles": [-5, 1, 2, 3, 4, 5, 6],
                       "=1+1": ["a"] * 7, "note": [None, 1.5, "-x", "ok", "@", "=", "plain"]})
    with open(export_frame(df, tmp_path / "t.csv"), newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["layer", "cycles", "'=1+1", "note"]
    assert [r[0] for r in rows[1:7]] == [f"'{f}" for f in FORMULAS] and rows[-1][0] == "conv1"
    assert [r[1] for r in rows[1:]] == ["-5", "1", "2", "3", "4", "5", "6"]
    assert [r[3] for r in rows[1:]] == ["", "1.5", "'-x", "ok", "'@", "'=", "plain"]
    assert not any(cell.startswith(("=", "+", "-", "@")) for r in rows[1:] for cell in (r[0], r[2], r[3]))


def test_the_hostile_reports_tables_export_as_text(hostile, tmp_path):
    """Every table behind the hostile report exports; no text cell starts a formula."""
    import csv

    from structconv.analysis import export_tables

    paths = export_tables(hostile.rep, tmp_path)
    assert paths
    for p in paths:
        with open(p, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
        for row in rows:
            bad = [c for c in row if c.startswith(("=", "+", "@")) or (c.startswith("-") and not _number(c))]
            assert bad == [], (p.name, bad)


def _number(cell: str) -> bool:
    try:
        float(cell)
        return True
    except ValueError:
        return False
