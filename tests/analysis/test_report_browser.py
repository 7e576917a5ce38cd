"""The report in a real browser: headless Chromium driven over the DevTools protocol (``browser``).

We check that the page throws no JavaScript error and logs no console error, fetches nothing
but the file itself, that every plotly figure rendered (its div holds SVG), and how long that
took; a screenshot goes to the test's temp dir. Skipped, with the reason, where Chromium is absent.
"""
from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest

from tests.analysis.browser import CDP, CHROMIUM, RENDER_CHECK

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (Debian: apt-get install "
                                "chromium; .ci/run installs it); set CHROMIUM=/path/to/chrome to use another")


def open_report(path: Path, tmp: Path, screenshot: Path, timeout: float = 60) -> dict:
    """Load ``path``; return errors, requests, figure counts, load time; save a screenshot."""
    import tempfile

    cdp = CDP(Path(tempfile.mkdtemp(prefix="chromium-profile-", dir=tmp)))
    try:
        targets = cdp.send("Target.getTargets")["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        sid = cdp.send("Target.attachToTarget", {"targetId": page["targetId"], "flatten": True})["sessionId"]
        for dom in ("Runtime", "Log", "Network", "Page"):
            cdp.send(f"{dom}.enable", session=sid)
        cdp.events.clear()
        t0 = time.monotonic()
        cdp.send("Page.navigate", {"url": path.resolve().as_uri()}, session=sid)
        cdp.wait_event("Page.loadEventFired", timeout)
        state = {}
        while time.monotonic() - t0 < timeout:
            state = json.loads(cdp.send("Runtime.evaluate",
                                        {"expression": RENDER_CHECK, "returnByValue": True},
                                        session=sid)["result"]["value"])
            if state["figures"] and state["rendered"] == state["figures"]:
                break
            time.sleep(0.05)
        load_s = time.monotonic() - t0
        cdp.drain(0.3)                                     # late errors, if any
        shot = cdp.send("Page.captureScreenshot", {"format": "png"}, session=sid)
        screenshot.write_bytes(base64.b64decode(shot["data"]))
        ev = cdp.events
        errors = [e["params"]["exceptionDetails"].get("exception", {}).get("description")
                  or e["params"]["exceptionDetails"].get("text")
                  for e in ev if e.get("method") == "Runtime.exceptionThrown"]
        errors += [" ".join(str(a.get("value", a.get("description", ""))) for a in e["params"]["args"])
                   for e in ev if e.get("method") == "Runtime.consoleAPICalled"
                   and e["params"]["type"] in ("error", "assert")]
        errors += [e["params"]["entry"]["text"] for e in ev
                   if e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error"]
        requests = [e["params"]["request"]["url"]
                    for e in ev if e.get("method") == "Network.requestWillBeSent"]
        failed = [e["params"].get("errorText") for e in ev if e.get("method") == "Network.loadingFailed"]
        return {"errors": errors, "requests": requests, "failed": failed, "load_s": load_s, **state}
    finally:
        cdp.close()


def _external(urls):
    return [u for u in urls if not u.startswith(("file:", "data:", "blob:", "about:"))]


@pytest.fixture(scope="module")
def small_report(tmp_path_factory):
    import json as _json

    from structconv.analysis import build_report, write_report
    from structconv.core import get_network, get_preset

    d = tmp_path_factory.mktemp("browser")
    run = d / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text("".join(_json.dumps(
        {"epoch": e, "phase": 1 if e == 0 else 2, "lam": 1.0, "loss": 1.0 / (e + 1),
         "task_loss": 0.5 / (e + 1),
         "sr_loss": 3.0 / (e + 1), "train_acc": 70.0 + 5 * e, "val_acc": 65.0 + 5 * e}) + "\n"
                                               for e in range(4)))
    (run / "summary.json").write_text(_json.dumps({"model": "resnet20", "config": {"lam": 1.0},
                                                   "acc_before": 85.0, "acc_after": 84.5}))
    from structconv.search import search

    search("resnet20", max_cycles_ratio=0.8, trials=20, out=d / "search",
           proxies=["params", "mults", "kept_dof", "field_ratio"])
    net = get_network("resnet20")
    rep = build_report(net, plan=get_preset("uniform-n2", net), search_dir=d / "search", runs=[run])
    return write_report(rep, d / "report.html")


def test_report_renders_without_errors(small_report, tmp_path):
    shot = tmp_path / "report.png"
    r = open_report(small_report, tmp_path, shot)
    assert r["errors"] == [], r["errors"]
    assert r["summary"] and r["plotly"]
    assert r["figures"] == 8 and r["rendered"] == 8 and r["empty"] == [], r
    assert _external(r["requests"]) == [], r["requests"]
    assert r["failed"] == []
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
    print(f"\nreport loaded and rendered in {r['load_s']:.2f} s; screenshot {shot}")


LOAD_BOUND_S = 15.0


def test_large_network_report_is_small_and_fast(tmp_path):
    """A 204-layer network (ResNet-200): < 10 MB and open in the browser in < 15 s.

    About 2-5 s on an idle machine; the bound is a guard against a report that hangs the browser, set
    for a shared CI machine (5 s failed at load 7 with 7.6 s), not a speed claim."""
    from structconv.analysis import build_report, write_report
    from structconv.core import get_preset
    from structconv.core.zoo.resnet import ResNetSpec, build_resnet  # a network outside the zoo's list

    net = build_resnet(ResNetSpec("resnet200", "bottleneck", (3, 24, 36, 3)))
    assert len(net.layers) >= 200
    rep = build_report(net, plan=get_preset("uniform-n2", net), paper=False)
    path = write_report(rep, tmp_path / "resnet200.html")
    size = path.stat().st_size
    assert size < 10_000_000, f"{size / 1e6:.1f} MB"
    times = []
    for attempt in range(5):       # the CI machine is shared: a load that meets the bound once suffices
        r = open_report(path, tmp_path, tmp_path / f"resnet200-{attempt}.png")
        assert r["errors"] == [] and r["figures"] == r["rendered"] == 4, r
        assert _external(r["requests"]) == []
        times.append(r["load_s"])
        if r["load_s"] < LOAD_BOUND_S:
            break
    shown = ", ".join(f"{t:.2f}" for t in times)
    print(f"\n{len(net.layers)} layers: {size / 1e6:.2f} MB, rendered in {shown} s")
    assert min(times) < LOAD_BOUND_S, f"took {times} s"
