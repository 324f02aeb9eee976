"""DigitPad on a phone: `python -m benchmarks.phone`.

Headless Chromium as a touch phone (390x844, and a small Android phone at 360x640), reaching the app
through a shaping proxy like a slow mobile network (Lighthouse's "Slow 4G": 150 ms round trip,
1.6 Mbit/s down): from navigation until the pad is ready to draw (its script listening), on a first
visit (empty cache) and a second one; the bytes and responses transferred; then a real pen-written
digit drawn with a finger (touch events), and whether the answer line (#verdict-compact) with every
model's digit is fully in view, without scrolling, and how long after the finger lifts it shows the
final drawing.
"""

import argparse
import time

from benchmarks.browser import CHROMIUM, FLAGS, DelayingProxy, benchmark_digits, hand_path
from benchmarks.server import APP, machine, start_server, stop

PHONES = {"390x844": (390, 844), "360x640": (360, 640)}
RTT_S = 0.150
DOWNLINK = 1.6e6 / 8  # bytes a second
TARGETS = {"ready_s": 3.0, "bytes": 0.45e6, "answer_s": 0.3 + RTT_S}
ANSWER = "#verdict-compact"


def touch_draw(page, value):
    """The digit's strokes as finger strokes (real touch events), at a hand's pace."""
    box = page.locator("#sketchpad canvas").first.bounding_box()
    session = page.context.new_cdp_session(page)
    for i, stroke in enumerate(value["strokes"]):
        if i:
            time.sleep(0.25)
        path = hand_path(stroke, box, value["width"])
        session.send("Input.dispatchTouchEvent", {"type": "touchStart",
                                                  "touchPoints": [{"x": path[0][0], "y": path[0][1]}]})
        for x, y in path[1:]:
            session.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]})
            time.sleep(0.016)
        session.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    return time.perf_counter()


def visit(browser, url, size, digit):
    """One phone: first and second visit, transfer, and the answer line after a finger-drawn digit."""
    width, height = PHONES[size]
    context = browser.new_context(viewport={"width": width, "height": height}, device_scale_factor=3,
                                  is_mobile=True, has_touch=True)
    page = context.new_page()
    responses = []
    page.on("requestfinished", lambda request: responses.append(request))
    result = {"phone": size}
    for name in ("first", "second"):
        start = time.perf_counter()
        page.goto(url, wait_until="commit")
        page.locator("#sketchpad canvas[data-ready]").wait_for(timeout=60_000)
        result[f"{name}_ready_s"] = time.perf_counter() - start
        if name == "first":
            sizes = [request.sizes() for request in responses]
            result["bytes"] = sum(s["responseBodySize"] + s["responseHeadersSize"] for s in sizes)
            result["responses"] = len(responses)
            result["largest"] = sorted(((s["responseBodySize"] + s["responseHeadersSize"], r.url.rsplit("/", 1)[-1])
                                        for s, r in zip(sizes, responses)), reverse=True)[:3]
    page.wait_for_function("() => document.querySelector('#verdict-compact [data-points], #verdict-compact .compact')",
                           timeout=60_000)
    time.sleep(1.0)  # the models load in the background: a first drawing is not what is measured
    scrolled = page.evaluate("window.scrollY")
    lifted = touch_draw(page, digit)
    points = page.evaluate("document.querySelector('#sketchpad canvas').dataset.points")
    try:
        page.wait_for_function(f"document.querySelector('{ANSWER} [data-points]')?.dataset.points === '{points}'",
                               timeout=10_000)
        result["answer_s"] = time.perf_counter() - lifted
    except Exception:  # counted as missing, the run goes on
        result["answer_s"] = None
    box = page.locator(ANSWER).bounding_box()
    result["in_view"] = bool(box and box["y"] >= 0 and box["y"] + box["height"] <= height
                             and page.evaluate("window.scrollY") == scrolled)
    result["digits_shown"] = page.locator(f"{ANSWER} b").count() >= 6  # the verdict's digit and five models'
    page.screenshot(path=f"docs/phone-{size}.png")
    context.close()
    return result


def main(argv=None):
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    digit = benchmark_digits(3)[1][1]
    process, url, _, _ = start_server(APP)
    proxy = DelayingProxy(int(url.rsplit(":", 1)[1].strip("/")), RTT_S / 2, DOWNLINK)
    shaped = f"http://127.0.0.1:{proxy.port}/"
    print(f"DigitPad on a phone, headless Chromium on {machine()}, through a proxy of {RTT_S * 1000:.0f} ms round "
          f"trip and {DOWNLINK * 8 / 1e6:g} Mbit/s down")
    ok = True
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            for size in PHONES:
                r = visit(browser, shaped, size, digit)
                answer = "missing" if r["answer_s"] is None else f"{r['answer_s']:.3f} s"
                print(f"{size}: pad ready {r['first_ready_s']:.2f} s first visit, {r['second_ready_s']:.2f} s second; "
                      f"{r['bytes'] / 1e6:.2f} MB in {r['responses']} responses (largest: "
                      f"{', '.join(f'{name} {b / 1e3:.0f} KB' for b, name in r['largest'])}); answer line in view: "
                      f"{r['in_view']}, every model's digit: {r['digits_shown']}, final drawing {answer} after the lift")
                ok &= (r["first_ready_s"] <= TARGETS["ready_s"] and r["bytes"] <= TARGETS["bytes"] and r["in_view"]
                       and r["digits_shown"] and r["answer_s"] is not None and r["answer_s"] <= TARGETS["answer_s"])
            browser.close()
    finally:
        proxy.close()
        stop(process)
    print("all targets met" if ok else "SOME TARGETS MISSED")
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
