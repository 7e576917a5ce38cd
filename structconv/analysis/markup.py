"""Where a name becomes document text: one escape for HTML and plotly labels, one for Markdown, and the
HTML report's Content-Security-Policy.

A model, accelerator, plan, layer, run or study name may come from someone else's file, so every string
a report interpolates goes through ``html_text`` (HTML and plotly figures) or ``md_text`` (Markdown) and
stays text: no element, attribute, link or script from a name. Control and bidi characters are shown
escaped (``core.printable``), so a U+202E cannot reorder what follows it either.
"""
from __future__ import annotations

import base64
import hashlib
import re

from structconv.core import printable

# numeric references for the quotes: plotly's labels decode those, but show "&quot;" as it stands
_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&#34;", "'": "&#39;"}
_HTML_SPECIAL = re.compile("[&<>\"']")
# inline Markdown: emphasis, code, links and images ([ ]), tables, strikethrough, math, quotes, headings
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~$>#])")
# what else starts a block when it begins a line: a list, a setext rule, an indented code block
_MD_LINE_START = ((re.compile(r"^([+=-])"), r"\\\1"), (re.compile(r"^(\d+)([.)])"), r"\1\\\2"),
                  (re.compile(r"^ +"), lambda m: "&#32;" * len(m.group())))


def html_text(value) -> str:
    """``value`` as HTML text, a quoted attribute value or a plotly label (plotly reads a subset of HTML
    in titles, legends, ticks and hover text): ``& < > " '`` as character references."""
    return _HTML_SPECIAL.sub(lambda m: _HTML[m.group()], printable(str(value)))


def md_text(value, inline: bool = False) -> str:
    """``value`` as Markdown text that is safe in a table cell and (unless ``inline``: a cell, a heading,
    emphasis) at the start of a line: Markdown punctuation backslash-escaped, ``& <`` as character
    references (no raw HTML, no autolink, no entity of the name's own)."""
    text = _MD_SPECIAL.sub(r"\\\1", printable(str(value)))
    text = text.replace("&", "&amp;").replace("<", "&lt;")
    for pattern, repl in () if inline else _MD_LINE_START:
        text = pattern.sub(repl, text, count=1)
    return text


# -- Content-Security-Policy ------------------------------------------------------------------------------
# every executable inline <script>; the summary's JSON data block runs nothing and needs no hash
_SCRIPT = re.compile(r"<script(?![^>]*\stype=\"application/json\")[^>]*>(.*?)</script>", re.S)


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def content_security_policy(document: str) -> str:
    """The policy of a report: the inline scripts ``document`` holds run (by their hash), no other script
    does (no event-handler attribute, no ``javascript:`` URL, no foreign file) and nothing is fetched.

    Styles stay inline-permitted: plotly.js writes style elements and attributes as it draws, and CSS
    cannot run script nor, with nothing fetchable, send anything anywhere."""
    scripts = " ".join(sorted({_sha256(t) for t in _SCRIPT.findall(document)})) or "'none'"
    return "; ".join(["default-src 'none'", f"script-src {scripts}", "style-src 'unsafe-inline'",
                      "img-src data: blob:", "font-src data:", "connect-src 'none'", "object-src 'none'",
                      "base-uri 'none'", "form-action 'none'"])
