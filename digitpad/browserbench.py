"""What a person waits in a real browser: `python -m digitpad.bench --browser [--digits 10]`.

Headless Chromium (Debian's, driven by Playwright) draws real handwritten digits (semeion and
optdigits, tests/fixtures/real_handwriting.npz, traced into one to four pen strokes by
`drawn.strokes`) as mouse drags, a few hundred mouse events each with a short pause between strokes,
first on `python app.py`, then on a Gradio app that does nothing with the same drawing pad. In the
page, a MutationObserver (and image load events) stamp every change of every view; once the page
has been still for SETTLE seconds, the time from the last stroke's mouse-up to each view's last
change is what the person waited for that view to show the final drawing.
"""

import time
from pathlib import Path

import numpy as np

from digitpad import drawn, handwriting

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
APP_VIEWS = ["verdict", "seen", "activations", "saliency"] + [f"panel-{k}" for k in
                                                                 ("perceptron", "mlp", "mlp_dropout", "cnn",
                                                                  "cnn_batchnorm")]
NOOP_VIEWS = ["noop-output"]
SETTLE = 1.5  # s without any change: the page has answered
STROKE_PAUSE = 0.25  # s between strokes, as a hand lifts and moves
TARGETS = {"median_s": 0.8, "p95_s": 1.5, "vs_noop": 1.15}

# Stamps mouse-ups and every change in each view, in the page's own clock.
OBSERVE = """ids => {
  window.marks = {mouseup: [], views: {}};
  window.addEventListener('mouseup', () => window.marks.mouseup.push(performance.now()), true);
  for (const id of ids) {
    const element = document.getElementById(id);
    const stamps = window.marks.views[id] = [];
    const stamp = () => stamps.push(performance.now());
    new MutationObserver(stamp).observe(element, {subtree: true, childList: true, characterData: true,
                                                   attributes: true, attributeFilter: ['src']});
    element.addEventListener('load', stamp, true);  // an image is shown once loaded, not when its src is set
  }
}"""


def benchmark_digits(count=10):
    """[(label, strokes)] of real handwritten digits from the committed fixture, read like a drawing."""
    fixture = ROOT / "tests" / "fixtures" / "real_handwriting.npz"
    with np.load(fixture) as data:
        sets = [handwriting.read(data["semeion_x"][::20], data["semeion_y"][::20]),
                handwriting.read(data["optdigits_x"][::20], data["optdigits_y"][::20])]
    digits = [(int(label), drawn.strokes(image)) for digits in sets for image, label in zip(digits.x, digits.y)]
    return digits[::max(1, len(digits) // count)][:count]


def replay(page, strokes):
    """Draw the strokes (28-px units) on the pad as mouse drags."""
    canvas = page.locator("#sketchpad canvas").first
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    for i, points in enumerate(strokes):
        if i:
            time.sleep(STROKE_PAUSE)
        # Within the middle of the editor's view, where its canvas is at any zoom (Clear resets the zoom).
        at = [(box["x"] + box["width"] * (0.2 + 0.6 * x / 28), box["y"] + box["height"] * (0.2 + 0.6 * y / 28))
              for x, y in points]
        page.mouse.move(*at[0])
        page.mouse.down()
        for x, y in at[1:]:
            page.mouse.move(x, y)
        page.mouse.up()


def settle(page, timeout=20.0):
    """Wait until no view has changed for SETTLE seconds since the last change and the last mouse-up,
    and every view has changed since that mouse-up (if there was one); returns the page's marks."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.1)
        still, answered = page.evaluate("""() => {
          const views = Object.values(window.marks.views), released = Math.max(0, ...window.marks.mouseup);
          return [performance.now() - Math.max(released, ...views.flat()),
                  views.every(stamps => Math.max(0, ...stamps) > released)];
        }""")
        if still > SETTLE * 1000 and answered:
            break
    return page.evaluate("() => window.marks")


def waits(page, views, strokes):
    """Draw one digit; {view: seconds from the last mouse-up to its last change} (None: it never changed)."""
    page.evaluate(OBSERVE, views)
    replay(page, strokes)
    marks = settle(page)
    released = marks["mouseup"][-1]
    return {view: ((max(stamps) - released) / 1000 if stamps and max(stamps) > released else None)
            for view, stamps in marks["views"].items()}


def clear(page, views):
    """Clear the pad the page's way and wait until every view has answered that."""
    from digitpad.sketchpad import CLEAR_CANVAS

    page.evaluate(OBSERVE, views)
    page.evaluate(CLEAR_CANVAS)
    settle(page)


def measure(browser, url, views, digits):
    """[{view: seconds}] for each digit, on a fresh page."""
    page = browser.new_page(viewport={"width": 1280, "height": 1100})
    page.goto(url)
    page.locator("#sketchpad canvas").first.wait_for(timeout=60_000)
    page.evaluate(OBSERVE, views)
    replay(page, digits[0][1])  # a first drawing: the models are loaded and the page is warm
    settle(page, timeout=60)
    results = []
    for _, strokes in digits:
        clear(page, views)
        results.append(waits(page, views, strokes))
    page.close()
    return results


def run(count=10):
    """Measure the app and the no-op pad in one run; returns (rows, failed)."""
    import sys

    from playwright.sync_api import sync_playwright

    from digitpad import bench

    digits = benchmark_digits(count)
    servers = {"app": [sys.executable, "app.py"], "no-op": [sys.executable, "-m", "digitpad.bench", "--serve-noop-page"]}
    measured = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        for name, command in servers.items():
            process, url, _, _ = bench.start_server(command)
            try:
                measured[name] = measure(browser, url, APP_VIEWS if name == "app" else NOOP_VIEWS, digits)
            finally:
                process.terminate()
                process.wait(timeout=30)
        browser.close()
    app = np.array([max(t for t in w.values() if t is not None) for w in measured["app"]])
    first = np.array([min(t for t in w.values() if t is not None) for w in measured["app"]])
    noop = np.array([w["noop-output"] for w in measured["no-op"]])
    missing = sum(t is None for w in measured["app"] for t in w.values())
    strokes = [len(s) for _, s in digits]
    rows = [
        (f"app: every view shows the final drawing ({len(app)} digits, {min(strokes)}-{max(strokes)} strokes)",
         np.median(app), np.percentile(app, 95)),
        ("app: first view changes", np.median(first), np.percentile(first, 95)),
        ("no-op pad: its output shows the final drawing", np.median(noop), np.percentile(noop, 95)),
    ]
    for stroke_count in sorted(set(strokes)):
        chosen = [t for t, s in zip(app, strokes) if s == stroke_count]
        rows.append((f"  app, {stroke_count}-stroke digits ({len(chosen)})", np.median(chosen), max(chosen)))
    ratio = np.median(app) / np.median(noop)
    failed = (np.median(app) > TARGETS["median_s"] or np.percentile(app, 95) > TARGETS["p95_s"]
              or ratio > TARGETS["vs_noop"] or missing)
    return rows, ratio, missing, failed
