"""End to end in a real browser: Playwright drives Debian's Chromium against the app on localhost.

Mouse strokes, a finger on a phone, Undo and Clear, the examples, a challenge round: each checks
that every view shows the final drawing (each view says which drawing it shows by its number of
points; the pad says which it sent). Screenshots go to artifacts/. Without Chromium the tests are
skipped, except under CI.
"""

import math
import os
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # Chromium and the app's server

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]

if not CHROMIUM.exists():
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} is missing: .ci/run must install it (apt-get install chromium)", pytrace=False)
    pytest.skip(f"browser test needs Debian's Chromium at {CHROMIUM} (apt-get install chromium)",
                allow_module_level=True)

from playwright.sync_api import expect, sync_playwright  # noqa: E402

from digitpad.catalog import MODEL_NAMES  # noqa: E402


@pytest.fixture(scope="module")
def browser():
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, app_url):
    page = browser.new_page(viewport={"width": 1280, "height": 1100})
    page.goto(app_url)
    page.locator("#sketchpad canvas[data-ready]").first.wait_for()  # the pad's script is listening
    yield page
    page.close()


def stroke(page, points, steps=2):
    """One mouse stroke through (x, y) points given as fractions of the canvas."""
    canvas = page.locator("#sketchpad canvas").first
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    at = [(box["x"] + x * box["width"], box["y"] + y * box["height"]) for x, y in points]
    page.mouse.move(*at[0])
    page.mouse.down()
    for x, y in at[1:]:
        page.mouse.move(x, y, steps=steps)
    page.mouse.up()


def draw_value(page, value, every=3):
    """A pad value's strokes (a real pen-written digit) as mouse strokes, every third point."""
    for points in value["strokes"]:
        stroke(page, [(x / value["width"], y / value["height"]) for x, y in points[::every] + points[-1:]], steps=1)


def touch_stroke(page, points):
    """One finger stroke, as real touch events (Chrome DevTools Protocol), through fractions of the canvas."""
    box = page.locator("#sketchpad canvas").first.bounding_box()
    session = page.context.new_cdp_session(page)
    at = [{"x": box["x"] + x * box["width"], "y": box["y"] + y * box["height"]} for x, y in points]
    session.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [at[0]]})
    for point in at[1:]:
        session.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [point]})
    session.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})


def top_guess(page, key):
    return page.locator(f"#panel-{key} [data-testid='label-output-value']")


def shows_final_drawing(page, timeout=10_000):
    """Wait until every stamped view shows the drawing the pad sent last."""
    page.wait_for_function("""() => {
      const sent = document.querySelector('#sketchpad canvas').dataset.points;
      return sent !== undefined && ['verdict', 'seen', 'activations', 'saliency'].every(id =>
        document.querySelector(`#${id} [data-points]`)?.dataset.points === sent);
    }""", timeout=timeout)


def test_draw_one_then_clear_then_zero(page):
    stroke(page, [(0.5, 0.2 + 0.6 * i / 20) for i in range(21)])  # a "1"
    shows_final_drawing(page, timeout=60_000)  # the first drawing may wait for TensorFlow and the models
    expect(top_guess(page, "cnn_batchnorm")).to_have_text("1")
    for key in MODEL_NAMES:
        expect(top_guess(page, key)).to_have_count(1)
    assert page.locator("#activations img").count() == 12  # 12 kernels, inlined, and beside each ...
    assert page.locator("#activations .tile").count() == 12  # ... its feature map, a tile of one picture
    page.screenshot(path=ARTIFACTS / "browser-one.png", full_page=True)

    page.locator("#clear").click()
    expect(page.locator("#verdict")).to_contain_text("Draw a digit", timeout=10_000)
    for key in MODEL_NAMES:
        expect(top_guess(page, key)).to_have_count(0)

    circle = [(0.5 + 0.2 * math.sin(2 * math.pi * i / 40), 0.5 - 0.3 * math.cos(2 * math.pi * i / 40))
              for i in range(42)]
    stroke(page, circle)  # a "0"
    shows_final_drawing(page)
    expect(top_guess(page, "cnn_batchnorm")).to_have_text("0")


def test_every_view_shows_the_final_drawing_of_a_two_stroke_digit_and_undo_takes_one_back(page):
    """A "1", then at once a bar across its top: a "7". Every view must show the 7; Undo then takes
    the bar away again and every view shows the stem alone."""
    stroke(page, [(0.6, 0.2 + 0.6 * i / 30) for i in range(31)])  # the stem
    stem = page.locator("#sketchpad canvas").get_attribute("data-points")
    stroke(page, [(0.3 + 0.3 * i / 20, 0.2) for i in range(21)])  # the bar: now a 7
    shows_final_drawing(page)
    expect(page.locator("#verdict .verdict b")).to_have_text("7")  # "All five say 7" or "Mostly 7, but..."
    expect(top_guess(page, "cnn_batchnorm")).to_have_text("7")
    expect(page.locator("#saliency")).to_contain_text("pushed it toward 7")
    page.screenshot(path=ARTIFACTS / "browser-two-strokes.png", full_page=True)

    page.locator("#undo").click()
    shows_final_drawing(page)
    assert page.locator("#seen [data-points]").get_attribute("data-points") == stem
    expect(top_guess(page, "cnn_batchnorm")).to_have_text("1")


def test_the_browser_keeps_no_record_of_the_drawings(page):
    """Gradio's front end records the requests of public events, strokes and answers, in localStorage
    (its run history, rewriting the whole record three times a request): the pad's events are private."""
    stroke(page, [(0.5, 0.2 + 0.6 * i / 20) for i in range(21)])  # a "1"
    shows_final_drawing(page, timeout=60_000)
    stored = page.evaluate("Object.keys(window.localStorage).filter(key => key.startsWith('gradio:run-history'))")
    assert stored == []


def test_a_drawing_past_the_points_limit_is_answered_with_the_limit_by_name(page):
    """A pad already holding 4,950 points (an example's way in), then a stroke of 100 mouse moves:
    the pad keeps one point past the limit, so the server reads the drawing's size and names the
    limit. (A body of every point a long scribble makes would pass the server's size limit and be
    refused unread, the page left showing the verdict before.)"""
    from digitpad.pad import EXAMPLE_EVENT
    from digitpad.preprocess import MAX_POINTS

    held = [[[20 + 2 * i, 20 + 5 * row] for i in range(99)] for row in range(50)]
    page.evaluate("([name, strokes]) => document.dispatchEvent(new CustomEvent(name, {detail: {strokes}}))",
                  [EXAMPLE_EVENT, held])
    stroke(page, [(0.2 + 0.6 * i / 100, 0.9) for i in range(101)], steps=1)
    expect(page.locator("#verdict")).to_contain_text(f"reads at most {MAX_POINTS:,}", timeout=20_000)
    assert page.locator("#sketchpad canvas").first.get_attribute("data-points") == str(MAX_POINTS + 1)
    page.screenshot(path=ARTIFACTS / "browser-points-limit.png")


def test_the_views_follow_the_pen_before_it_lifts(page):
    box = page.locator("#sketchpad canvas").first.bounding_box()
    page.mouse.move(box["x"] + 0.3 * box["width"], box["y"] + 0.2 * box["height"])
    page.mouse.down()
    for i in range(1, 60):  # a 7, slowly: about a second with the pen down
        x, y = (0.3 + 0.4 * i / 20, 0.2) if i <= 20 else (0.7 - 0.25 * (i - 20) / 39, 0.2 + 0.6 * (i - 20) / 39)
        page.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"])
        page.wait_for_timeout(16)
    shown = page.locator("#seen [data-points]")
    expect(shown).to_have_count(1, timeout=15_000)  # an answer while the pen is still down
    assert int(shown.get_attribute("data-points")) > 0
    page.mouse.up()
    shows_final_drawing(page)


def test_behind_a_slow_link_the_views_follow_the_pen_with_ever_newer_drawings(browser, app_url):
    """Gradio holds back an event triggered while its request is in flight, then sends it with the data
    that the event in flight was triggered with. Behind a slow link (here 200 ms a round trip) the
    pad's live drawings went out as one and the same drawing, again and again, and the views stood
    still while the pen moved; each request now carries the newest strokes."""
    from benchmarks.browser import DelayingProxy

    proxy = DelayingProxy(app_url, 0.1)
    page = browser.new_page(viewport={"width": 1280, "height": 1100})
    page.add_init_script("""
      window.sentSeqs = [];
      const fetchWas = window.fetch;
      window.fetch = function(url, options) {
        const live = options && typeof options.body === 'string' && options.body.match(/"live":true,"seq":(\\d+)/);
        if (live) window.sentSeqs.push(Number(live[1]));
        return fetchWas.apply(this, arguments);
      };""")
    try:
        page.goto(proxy.url)
        page.locator("#sketchpad canvas[data-ready]").first.wait_for()
        stroke(page, [(0.5, 0.2), (0.5, 0.8)])
        shows_final_drawing(page, timeout=30_000)
        page.evaluate("""() => {
          window.sentSeqs = []; window.shownPoints = new Set();
          const shown = () => document.querySelector('#seen [data-points]')?.dataset.points;
          new MutationObserver(() => window.shownPoints.add(shown()))
            .observe(document.getElementById('seen'), {subtree: true, childList: true, attributes: true}); }""")
        box = page.locator("#sketchpad canvas").first.bounding_box()
        page.mouse.move(box["x"] + 0.2 * box["width"], box["y"] + 0.2 * box["height"])
        page.mouse.down()
        for i in range(1, 125):  # a slow zigzag, about two seconds with the pen down
            x, y = 0.2 + 0.6 * abs((i % 40) - 20) / 20, 0.2 + 0.6 * i / 125
            page.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"])
            page.wait_for_timeout(16)
        shown_while_drawing = page.evaluate("() => window.shownPoints.size")
        page.mouse.up()
        shows_final_drawing(page)
        sent = page.evaluate("() => window.sentSeqs")
        assert len(sent) >= 4 and sent == sorted(set(sent)), sent  # every live request a newer drawing
        assert shown_while_drawing >= 3  # the views followed the pen
    finally:
        page.close()
        proxy.close()


def test_phone_drawing_with_a_finger_does_not_scroll_the_page(browser, app_url):
    context = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True,
                                  device_scale_factor=2)
    page = context.new_page()
    page.goto(app_url)
    canvas = page.locator("#sketchpad canvas").first
    canvas.wait_for()
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    column = page.locator("#sketchpad").bounding_box()["width"]
    assert box["width"] >= column - 2 and box["width"] >= 320 and abs(box["width"] - box["height"]) < 2  # fills it
    scrolled = page.evaluate("window.scrollY")
    seven = [(0.3 + 0.4 * i / 10, 0.25) for i in range(11)] + [(0.7 - 0.25 * i / 15, 0.25 + 0.5 * i / 15)
                                                                for i in range(1, 16)]
    touch_stroke(page, seven)  # drawn upwards and downwards: a scrolling page would move
    shows_final_drawing(page)
    expect(top_guess(page, "cnn_batchnorm")).to_have_text("7")
    assert page.evaluate("window.scrollY") == scrolled
    # The answer line, where the finger is: fully on screen, without scrolling, every model's digit in it.
    answer = page.locator("#verdict-compact")
    expect(answer.locator("[data-points]")).to_have_attribute("data-points", canvas.get_attribute("data-points"))
    box = answer.bounding_box()
    assert box and 0 <= box["y"] and box["y"] + box["height"] <= 844, box
    assert answer.locator("b").count() >= 6 and "7" in answer.inner_text()
    page.screenshot(path=ARTIFACTS / "browser-phone.png", full_page=False)
    context.close()


def test_a_round_on_a_small_phone_keeps_what_is_asked_the_answer_and_done_on_screen(browser, app_url, pen_values):
    """360x640, a finger at a hand's pace: in a round, the prompt, the pad, the answer line and "Done: next
    digit" are all on screen after each stroke, and "Done" is tapped where it is, without scrolling."""
    import re

    from benchmarks.phone import touch_draw

    context = browser.new_context(viewport={"width": 360, "height": 640}, has_touch=True, is_mobile=True,
                                  device_scale_factor=2)
    page = context.new_page()
    page.goto(app_url)
    page.locator("#sketchpad canvas[data-ready]").first.wait_for()
    page.locator("#challenge-start").tap()
    for asked in (1, 2, 3):
        prompt = page.locator("#challenge-prompt")
        expect(prompt).to_contain_text(f"({asked} of 10)", timeout=10_000)
        page.wait_for_function("document.querySelector('#sketchpad canvas').dataset.points === '0'")  # cleared
        touch_draw(page, pen_values[int(re.search(r"Draw a (\d)", prompt.inner_text()).group(1))])
        shows_final_drawing(page)
        assert page.evaluate("window.scrollY") == 0
        expect(page.locator("#challenge-start")).to_be_hidden()  # right under Done: a slip would restart the round
        for view in ("#challenge-prompt", "#sketchpad canvas", "#verdict-compact", "#challenge-next"):
            box = page.locator(view).first.bounding_box()
            assert box and 0 <= box["y"] and box["y"] + box["height"] <= 640, (asked, view, box)
        page.wait_for_timeout(500)  # the finger moves to the button
        done = page.locator("#challenge-next").bounding_box()
        page.touchscreen.tap(done["x"] + done["width"] / 2, done["y"] + done["height"] / 2)
    expect(page.locator("#challenge-prompt")).to_contain_text("(4 of 10)", timeout=10_000)
    page.screenshot(path=ARTIFACTS / "browser-phone-round.png", full_page=False)
    context.close()


def test_clicking_an_example_draws_its_strokes_and_reads_them(page):
    page.locator(".examples[data-ready]").wait_for()  # the strip's script is listening
    examples = page.locator(".pad-example")
    assert examples.count() == 12  # real pen-written digits, 0-9 and two the MNIST-only models misread
    examples.nth(4).click()  # a 4 in two strokes
    shows_final_drawing(page)
    expect(top_guess(page, "cnn_batchnorm")).to_have_text("4")
    pixels = page.evaluate("""() => { const c = document.querySelector('#sketchpad canvas');
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let ink = 0; for (let i = 3; i < d.length; i += 4) ink += d[i] > 128; return ink; }""")
    assert pixels > 1000  # drawn on the pad, where Undo and more strokes work as on any drawing


def test_a_challenge_round_scores_the_models_and_keeps_consented_strokes(page, pen_values):
    """Ten asked digits drawn with mouse strokes (real pen-written ones), "Done" after each: the
    scoreboard counts ten drawings for every model, the round's summary shows, and (consent ticked)
    ten rows are kept, each with its strokes."""
    import re

    import sqlalchemy as sa

    from digitpad.drawings import DrawingStore, drawings

    store = DrawingStore()  # the app's own ($DIGITPAD_DB, a throwaway file under the tests)
    before = store.count()
    page.locator("#consent input").check()
    page.locator("#challenge-start").click()
    saved = 0.0
    for asked in range(1, 11):
        prompt = page.locator("#challenge-prompt")
        expect(prompt).to_contain_text(f"({asked} of 10)", timeout=10_000)
        page.wait_for_function("document.querySelector('#sketchpad canvas').dataset.points === '0'")  # cleared
        shows_blank = page.locator("#verdict [data-points='0']")
        expect(shows_blank).to_contain_text("Draw a digit")
        digit = int(re.search(r"Draw a (\d)", prompt.inner_text()).group(1))
        draw_value(page, pen_values[digit])
        shows_final_drawing(page)
        page.wait_for_timeout(max(0, 1100 - 1000 * (time.monotonic() - saved)))  # one save a second at most
        page.locator("#challenge-next").click()
        expect(page.locator("#save-status")).to_contain_text(f"({asked} of yours kept)", timeout=10_000)
        saved = time.monotonic()  # the server saved it before it said so: the next save a second after
    expect(page.locator("#challenge-prompt")).to_contain_text("Round over")
    expect(page.locator("#challenge-start")).to_have_text("Another round")  # hidden while the round was on
    counts = page.locator("#scoreboard td.count:not(.adapted)").all_inner_texts()
    assert len(counts) == 5 and all(re.fullmatch(r"\d+ / 10", c) for c in counts)
    # No adaptation read these drawings before they were labelled (it starts after the first round).
    assert page.locator("#scoreboard td.adapted").all_inner_texts() == ["–"] * 5
    expect(page.locator("#adapt input")).to_be_checked()  # on by default once the round is over
    assert int(counts[-1].split()[0]) >= 8  # the batch-norm CNN reads these pen-written digits
    expect(page.locator("#round-chart img")).to_be_visible()
    assert store.count() - before == 10
    with store.engine.connect() as connection:
        kept = connection.execute(sa.select(drawings.c.strokes).order_by(drawings.c.id.desc()).limit(10)).all()
    assert all(row.strokes and row.strokes["strokes"] for row in kept)
    page.screenshot(path=ARTIFACTS / "browser-challenge.png", full_page=True)
