"""What a person waits in a real browser: `python -m benchmarks.browser [--digits 12]`.

Headless Chromium (Debian's, driven by Playwright) draws real pen-written digits (UNIPEN writers
no model trained on: tests/fixtures/unipen_sample.npz, 1-3 strokes each) as mouse drags paced like
a hand: an event every 16 ms at about 1,200 screen px a second, a quarter-second pause between
strokes. In one run, against three servers:

- the app (`python app.py`);
- a no-op app with the same pad, whose answer only counts the points it got (the floor);
- a no-op app with `gr.Sketchpad` at 280 px, as the page had it before its own pad (the old floor);

each at localhost and behind a proxy that adds 100 ms to every round trip (50 ms each way, as a
visitor far from a Space sees it); numbers of four pen digits drawn on the app at localhost; and the
app adapted to its visitor (issue 30: the drawing path is not slowed), a page that first labelled two
rounds of one pen writer's digits ("Wrong? It was:") and switched adaptation on, drawn on in turn with
a page of the app as trained and the no-op pad.
The app and the no-op pad run at once and are drawn on in turn, digit by digit, on two pages of one
browser, so that their ratio compares them under the same conditions.
Every view of the app marks the drawing it shows with its number of points (`data-points`), and so
does the pad (`canvas.dataset.points`): the wait is from the last stroke's mouse-up until every view
shows the final drawing. Every wait is bounded (BOUND_S): a view that never shows the final drawing
is counted as missing. Where the pen rested before it lifted (Playwright's process held up between the
last move and the mouse-up), the live answer to the whole drawing was already shown and the final answer
changes nothing: such a view waited 0 s, and the report counts these drawings. The gr.Sketchpad no-op, whose output
cannot tell drawings apart, is timed to its output's last change after the mouse-up (the page then
still for SETTLE_S). Also: how often the views follow the pen during one 2-second stroke (at localhost,
and, not a target, with the added round trip); and, not a target,
the app and the no-op pad with the server on one core and Chromium on the other, as a visitor's
browser and a Space never share a CPU.
"""

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import threading
import time
from urllib.parse import urlparse

import numpy as np

from benchmarks.server import APP, FIXTURE, machine, noop_command, running, wait_quiet, writer_rounds
from digitpad import unipen

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
SERVERS = {"app": APP, "pad": noop_command("pad"), "sketchpad": noop_command("sketchpad")}
APP_VIEWS = ["verdict", "seen", "inside"]  # stamped with the drawing they show ("inside": its pictures and saliency)
PANELS = [f"panel-{k}" for k in ("perceptron", "mlp", "mlp_dropout", "cnn", "cnn_batchnorm")]
NOOP_VIEWS = ["noop-output"]
FRAME_S = 0.016  # one pointer event a frame
SPEED = 1200  # screen px a second: a digit 360 px high takes about a second to write
STROKE_PAUSE = 0.25  # s between strokes, as a hand lifts and moves
BOUND_S = 5.0  # the longest wait for a view to show the final drawing before it counts as missing
RESTED_S = 1.0  # a view that showed the final drawing before the mouse-up, unchanged this long after it: shown
SETTLE_S = 1.5  # the gr.Sketchpad no-op: still this long after its last change = answered
LATENCY_S = 0.1  # added round trip
SKETCHPAD_EVENTS = 8  # pointer moves a stroke on gr.Sketchpad (see draw)
TARGETS = {"median_s": 0.15, "p95_s": 0.3, "latency_median_s": 0.35, "vs_pad_noop": 1.3, "vs_sketchpad": 4.0,
           "live_per_s": 4.0}

# Stamps pointer-ups and every change of each view, with the drawing it shows and the nodes it changed, in
# the page's own clock. Called before each drawing: it starts new marks, and listens only once a page (the
# listeners and observers of every earlier drawing would otherwise pile up, each doing its work on every
# change). The observers only note: asking there whether a change can be seen (`checkVisibility`) forced
# the page to compute its style in the middle of its answer, once for every observer's callback (4-7 ms of
# the app's 8 observed views' 8-18 ms answer in a Chromium trace, none of it a visitor's), so MARKS asks
# it afterwards, once the page is still.
OBSERVE = """ids => {
  window.marks = {up: [], down: [], views: Object.fromEntries(ids.map(id => [id, []])),
                  nodes: Object.fromEntries(ids.map(id => [id, []]))};
  window.observed = window.observed || new Set();
  if (!window.observed.size) {
    window.addEventListener('pointerup', () => window.marks.up.push(performance.now()), true);
    window.addEventListener('pointerdown', () => window.marks.down.push(performance.now()), true);
  }
  for (const id of ids.filter(id => !window.observed.has(id))) {
    window.observed.add(id);
    const element = document.getElementById(id);
    new MutationObserver(records => {
      const stamps = window.marks.views[id];
      if (!stamps) return;
      const tagged = element.querySelector('[data-points]');
      stamps.push([performance.now(), tagged ? Number(tagged.dataset.points) : null]);
      window.marks.nodes[id].push(records.map(record => record.target));
    }).observe(element, {subtree: true, childList: true, characterData: true, attributes: true});
  }
}"""
# The marks so far; with `seen`, only the changes that could be seen: a change inside an element that is
# not rendered, or fully transparent, shows nothing. Gradio's status tracker, hidden (opacity 0) over each
# output, empties itself a few milliseconds after an answer is shown, and counting it timed the panels
# (unstamped: timed to their last change) to that bookkeeping instead of to their answer. A node no longer
# in the page (replaced since) counts as seen: it was, when it changed.
MARKS = """seen => {
  const visible = node => {
    const element = node.nodeType === Node.ELEMENT_NODE ? node : node.parentElement;
    return !element || !element.isConnected || element.checkVisibility({opacityProperty: true, visibilityProperty: true});
  };
  const views = Object.fromEntries(Object.entries(window.marks.views).map(([id, stamps]) =>
    [id, stamps.filter((_, i) => !seen || window.marks.nodes[id][i].some(visible))]));
  return {marks: {up: window.marks.up, down: window.marks.down, views}, now: performance.now(),
          points: Number(document.querySelector('#sketchpad canvas')?.dataset.points ?? -1)};
}"""


# ---------------------------------------------------------------- the digits and the hand


def benchmark_digits(count=12):
    """[(label, pad value)]: real pen-written digits, multi-stroke ones first among each stroke count."""
    pen = unipen.load(FIXTURE)
    chosen, by_strokes = [], {}
    for i, strokes in enumerate(pen.strokes):
        by_strokes.setdefault(min(len(strokes), 3), []).append(i)
    # A third each of 1-, 2- and 3-stroke digits (as many as there are), spread over the fixture.
    for strokes in (1, 2, 3):
        indices = by_strokes.get(strokes, [])
        take = min(len(indices), count // 3 if strokes < 3 else count - len(chosen))
        chosen += indices[:: max(1, len(indices) // max(take, 1))][:take]
    return [(int(pen.labels[i]), unipen.pad_value(pen.strokes[i])) for i in chosen]


def benchmark_numbers(count=6):
    """[(digits, pad value)]: numbers of four pen-written digits of one writer side by side, as
    `benchmarks.reading` makes them."""
    from benchmarks.reading import number

    pen, rng = unipen.load(FIXTURE), np.random.default_rng(4)
    writers = [i for i in (np.nonzero(pen.writers == w)[0] for w in sorted(set(pen.writers))) if len(i) >= 4]
    return [number(pen, writers[k % len(writers)], rng, n=4)[:2][::-1] for k in range(count)]


def hand_path(points, box, side):
    """Screen positions of one stroke as a hand moves: one event a frame at SPEED px a second."""
    at = np.asarray(points, float) / side * [box["width"], box["height"]] + [box["x"], box["y"]]
    lengths = np.concatenate([[0], np.cumsum(np.hypot(*np.diff(at, axis=0).T))])
    steps = max(2, int(lengths[-1] / (SPEED * FRAME_S)) + 1)
    along = np.linspace(0, lengths[-1], steps)
    return np.stack([np.interp(along, lengths, at[:, 0]), np.interp(along, lengths, at[:, 1])], axis=1)


def draw(page, value, most_events=None):
    """The pad value's strokes drawn as mouse drags at a hand's pace (at most `most_events` events
    a stroke: gr.Sketchpad's editor, rendered in software here, takes about a quarter of a second
    an event, and what it costs after the mouse-up does not depend on how many there were)."""
    canvas = page.locator("#sketchpad canvas").first
    box = canvas.bounding_box()
    for i, stroke in enumerate(value["strokes"]):
        if i:
            time.sleep(STROKE_PAUSE)
        path = hand_path(stroke, box, value["width"])
        if most_events and len(path) > most_events:
            path = path[np.linspace(0, len(path) - 1, most_events).round().astype(int)]
        drag(page, path)


def drag(page, path):
    """One mouse drag through screen positions, one a frame (FRAME_S)."""
    page.mouse.move(*path[0])
    page.mouse.down()
    for x, y in path[1:]:
        due = time.perf_counter() + FRAME_S
        page.mouse.move(x, y)
        time.sleep(max(0.0, due - time.perf_counter()))
    page.mouse.up()


# ---------------------------------------------------------------- waiting, bounded


def wait_stamped(page, views, extra=()):
    """Seconds from the last pointer-up until every stamped view shows the final drawing (the pad's
    point count), and `extra` views have made their last change; None for a view that did not
    within BOUND_S. Returns ({view: seconds or None}, marks)."""
    deadline = time.monotonic() + BOUND_S

    def shown_in(state):
        up, points = max(state["marks"]["up"]), state["points"]
        shown = {}
        rested.clear()
        for view in views:
            stamps = state["marks"]["views"][view]
            shown[view] = next((t for t, p in stamps if t > up and p == points), None)
            # A pen that rests before it lifts: the live answer to the whole drawing was shown before the
            # mouse-up, and the final one, the same, changed nothing. The view showed the final drawing at
            # the lift (a wait of 0), once the page has stayed so for RESTED_S.
            if (shown[view] is None and stamps and stamps[-1][0] <= up and stamps[-1][1] == points
                    and state["now"] - up > RESTED_S * 1000):
                shown[view] = up
                rested.add(view)
        return up, shown

    rested = set()  # the views shown at the lift, as the latest `shown_in` found them

    while True:
        state = page.evaluate(MARKS, False)
        _, shown = shown_in(state)
        done = all(t is not None for t in shown.values())
        if done and state["now"] - max(shown.values()) > 300 or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    state = page.evaluate(MARKS, True)  # the page is still: which of its changes could be seen
    up, shown = shown_in(state)
    if None in shown.values() and state["now"] - up < RESTED_S * 1000:  # rested? seen once RESTED_S has passed
        time.sleep(RESTED_S - (state["now"] - up) / 1000 + 0.05)
        state = page.evaluate(MARKS, True)
        up, shown = shown_in(state)
    marks = state["marks"]
    done = all(t is not None for t in shown.values())
    waits = {view: None if t is None else (t - up) / 1000 for view, t in shown.items()}
    for view in extra:  # unstamped views (the panels): their last change after the pointer-up, if any
        after = [t for t, _ in marks["views"][view] if t > up]
        waits[view] = (max(after) - up) / 1000 if after else (0.0 if done else None)
    waits["rested"] = bool(rested)
    return waits, marks


def wait_settled(page, view):
    """Seconds from the last pointer-up to the view's last change, once the page has been still for
    SETTLE_S (None: no change within BOUND_S + SETTLE_S)."""
    deadline = time.monotonic() + BOUND_S + SETTLE_S
    while time.monotonic() < deadline:
        state = page.evaluate(MARKS, True)
        up = max(state["marks"]["up"])
        after = [t for t, _ in state["marks"]["views"][view] if t > up]
        if after and state["now"] - max(after) > SETTLE_S * 1000:
            return (max(after) - up) / 1000
        time.sleep(0.05)
    return None


def clear(page, kind):
    """Clear the pad as a visitor does, and wait (bounded) until the page shows the empty pad."""
    if kind == "sketchpad":  # its editor, once cleared, drops the brush and its zoom: start afresh
        page.reload()
        page.locator('#sketchpad button[aria-label="Brush"].highlight').wait_for(timeout=30_000)
        return
    page.locator("#sketchpad .pad-clear").click()
    view = "verdict" if is_app(kind) else "noop-output"
    page.wait_for_function(f"document.querySelector('#{view} [data-points]')?.dataset.points === '0'",
                           timeout=BOUND_S * 1000)


# ---------------------------------------------------------------- one server, one latency


def is_app(kind):
    return kind in ("app", "adapted")  # "adapted": the app, on a page whose visitor it adapted to


def views_of(kind):
    return APP_VIEWS + PANELS if is_app(kind) else NOOP_VIEWS


def open_page(browser, url, kind):
    """(page, the URLs it fetches): a fresh page of the server at `url`, once its pad and views are there."""
    page = browser.new_page(viewport={"width": 1280, "height": 1100})
    page.goto(url)
    page.locator("#sketchpad canvas").first.wait_for(timeout=60_000)
    page.wait_for_function("ids => ids.every(id => document.getElementById(id))", arg=views_of(kind), timeout=60_000)
    if kind == "sketchpad":
        page.locator('#sketchpad button[aria-label="Brush"].highlight').wait_for(timeout=30_000)
    requests = []  # everything the page fetches: after the drawing's own POST, nothing should follow
    page.on("request", lambda request: requests.append(request.url))
    return page, requests


def draw_and_wait(page, requests, kind, value, first=False):
    """{view: seconds or None, "follow-ups": fetches besides the drawing's own} for one drawing on the
    page, the pad cleared first (unless it is the page's `first`)."""
    page.bring_to_front()  # the page drawn on is the browser's front tab, whichever was drawn on before
    if not first:
        clear(page, kind)
    fetched = len(requests)
    page.evaluate(OBSERVE, views_of(kind))
    draw(page, value, SKETCHPAD_EVENTS if kind == "sketchpad" else None)
    if is_app(kind):
        waits, _ = wait_stamped(page, APP_VIEWS, PANELS)
    elif kind == "pad":
        waits, _ = wait_stamped(page, NOOP_VIEWS)
    else:
        waits = {"noop-output": wait_settled(page, "noop-output")}
    waits["follow-ups"] = sum("/run/predict" not in url for url in requests[fetched:])
    return waits


def measure(browser, servers, digits, prepare=None):
    """{kind: [{view: seconds or None}] for each digit} for `servers` ({kind: (url, server pid)}), on
    fresh pages of one browser (`prepare`: {kind: f(page, requests)} run on a page once it is open),
    drawn in turn: each digit on every page before the next digit, the order
    reversed every digit. So the servers are compared under the same conditions, digit by digit: run
    one after the other, minutes apart, the medians of the app and of the no-op pad moved with the
    machine's speed (the no-op pad's from 20 to 25 ms over five runs, which decided their ratio). A
    first drawing warms each page (and the app's models); each server is then left to finish what it
    does in the background."""
    pages = {kind: open_page(browser, url, kind) for kind, (url, _) in servers.items()}
    for kind, (page, requests) in pages.items():
        if kind in (prepare or {}):
            prepare[kind](page, requests)
        draw_and_wait(page, requests, kind, digits[0][1], first=kind not in (prepare or {}))
    for _, server_pid in servers.values():
        wait_quiet(server_pid)
    results, order = {kind: [] for kind in servers}, list(servers)
    for i, (_, value) in enumerate(digits):
        for kind in order if i % 2 == 0 else order[::-1]:
            results[kind].append(draw_and_wait(*pages[kind], kind, value))
    for page, _ in pages.values():
        page.close()
    return results


def adapt_to_visitor(page, requests):
    """The page's visitor labels two rounds of a pen writer's digits ("Wrong? It was:" after each), then
    switches adaptation on; returns the status line, which names the models the adaptation changed."""
    for i, (label, value) in enumerate(writer_rounds()):
        draw_and_wait(page, requests, "app", value, first=i == 0)
        page.locator(f"#correction input[value='{label}']").check()
        # one label is too few to adapt to (the status says so); from the second on, it counts them, or says
        # it is still learning the latest (digitpad.refits)
        says = ["two different digits"] if i == 0 else [f"your {i + 1} labelled", "Learning from your latest"]
        page.wait_for_function(f"{says}.some(s => document.querySelector('#adapt-status').innerText.includes(s))",
                               timeout=BOUND_S * 1000)
    page.wait_for_timeout(500)  # the last refit done: switching adaptation on shows what it learned
    page.locator("#adapt input").check()
    page.wait_for_function("document.querySelector('#adapt-status').innerText.startsWith('On')", timeout=BOUND_S * 1000)
    status = page.locator("#adapt-status").inner_text()
    if "changed:" not in status:
        raise RuntimeError(f"the adaptation changed no model: {status}")
    return status


def live_rate(browser, url):
    """During one 2-second stroke: how many times a second the app's views showed a newer drawing."""
    page, _ = open_page(browser, url, "app")
    page.evaluate(OBSERVE, APP_VIEWS)
    draw(page, {"strokes": [[[140, 60], [140, 220]]], "width": 280, "height": 280})  # warm
    clear(page, "app")
    page.evaluate(OBSERVE, APP_VIEWS)
    frames = int(2.0 / FRAME_S)  # a slow zigzag lasting two seconds
    zigzag = [[60 + 160 * (i % 40) / 40 if (i // 40) % 2 == 0 else 220 - 160 * (i % 40) / 40, 40 + 200 * i / frames]
              for i in range(frames)]
    box = page.locator("#sketchpad canvas").first.bounding_box()
    drag(page, [(box["x"] + x / 280 * box["width"], box["y"] + y / 280 * box["height"]) for x, y in zigzag])
    marks = page.evaluate(MARKS, False)["marks"]
    page.close()
    down, up = marks["down"][-1], marks["up"][-1]
    shown = {p for t, p in marks["views"]["seen"] if down < t <= up and p}
    return len(shown) / ((up - down) / 1000), (up - down) / 1000


# ---------------------------------------------------------------- a delaying proxy


class DelayingProxy:
    """TCP proxy on a free localhost port that delays every chunk by `delay` seconds each way, in
    order: what a visitor far from the server sees; with `downlink` (bytes a second), the chunks to the
    browser also share one link of that rate, as on a phone network. `url`: the proxy's own address, in
    front of `server_url`; closed at the end of a `with` block."""

    def __init__(self, server_url, delay, downlink=None):
        self.target_port, self.delay, self.downlink = urlparse(server_url).port, delay, downlink
        self.link_free = 0.0  # when the shared downlink has sent what it was given
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        threading.Thread(target=self._serve, args=(ready,), daemon=True).start()
        ready.wait(10)

    def _serve(self, ready):
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(asyncio.start_server(self._connect, "127.0.0.1", 0))
        self.port = self.server.sockets[0].getsockname()[1]
        ready.set()
        self.loop.run_forever()

    async def _connect(self, client_reader, client_writer):
        try:
            server_reader, server_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(self._pipe(client_reader, server_writer),
                             self._pipe(server_reader, client_writer, self.downlink))

    async def _pipe(self, reader, writer, rate=None):
        queue = asyncio.Queue()

        async def deliver():
            while (item := await queue.get()) is not None:
                due, data = item
                await asyncio.sleep(max(0.0, due - self.loop.time()))
                writer.write(data)
                await writer.drain()
            writer.close()

        sender = asyncio.ensure_future(deliver())
        try:
            while data := await reader.read(65536):
                due = self.loop.time() + self.delay
                if rate:  # the chunk leaves once the link has sent what came before it
                    self.link_free = max(self.link_free, self.loop.time()) + len(data) / rate
                    due = max(due, self.link_free + self.delay)
                queue.put_nowait((due, data))
        except (ConnectionError, OSError):
            pass
        queue.put_nowait(None)
        try:
            await sender
        except (ConnectionError, OSError):
            pass

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/"

    def close(self):
        """Stop accepting connections (the loop's thread ends with the process)."""
        self.loop.call_soon_threadsafe(self.server.close)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ---------------------------------------------------------------- the run


def every_view(waits):
    """Seconds until every view showed the final drawing (None when one never did)."""
    times = [t for view, t in waits.items() if view not in ("follow-ups", "rested")]
    return None if any(t is None for t in times) else max(times)


def pinned_chromium(folder, core):
    """An executable that starts Chromium (all its processes) on one core only."""
    path = os.path.join(folder, "chromium")
    with open(path, "w") as script:
        script.write(f'#!/bin/sh\nexec taskset -c {core} {CHROMIUM} "$@"\n')
    os.chmod(path, 0o755)
    return path


def apart(playwright, digits):
    """{kind: [seconds]} of the app and the no-op pad at localhost with the servers on core 0 and Chromium
    on core 1: a visitor's browser and a Space never share a CPU, while on this 2-core machine the main
    run's do (the server's reading then waits for Chromium's work after the mouse-up)."""
    print(f"  app and no-op pad, servers and browser on separate cores: drawing {len(digits)} digits on each",
          flush=True)
    with tempfile.TemporaryDirectory() as folder, started(
            {kind: ["taskset", "-c", "0"] + command for kind, command in SERVERS.items() if kind != "sketchpad"},
            proxied=False) as servers:
        browser = playwright.chromium.launch(executable_path=pinned_chromium(folder, 1), args=FLAGS)
        measured = {kind: [every_view(w) for w in waits]
                    for kind, waits in measure(browser, {k: (url, pid) for k, (url, pid, _) in servers.items()},
                                               digits).items()}
        browser.close()
    return measured


@contextlib.contextmanager
def started(commands, proxied=True):
    """{kind: (url, pid, the url behind a proxy adding LATENCY_S to every round trip, or None unless
    `proxied`)}: a server for each command, all running at once (each idle while another is drawn on),
    stopped at the end."""
    with running(commands) as servers, contextlib.ExitStack() as proxies:
        far = {kind: None for kind in servers}
        if proxied:
            for kind, (_, url) in servers.items():
                far[kind] = proxies.enter_context(DelayingProxy(url, LATENCY_S / 2)).url
        yield {kind: (url, process.pid, far[kind]) for kind, (process, url) in servers.items()}


def run(count=12):
    from playwright.sync_api import sync_playwright

    digits, numbers = benchmark_digits(count), benchmark_numbers(max(2, count // 2))
    measured, follow_ups, rested = {}, {}, {}
    with sync_playwright() as playwright:
        separate = apart(playwright, digits) if len(os.sched_getaffinity(0)) >= 2 else {}
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        with started(SERVERS) as servers:
            # The app and the no-op pad drawn in turn, digit by digit (their ratio is a target); gr.Sketchpad's
            # no-op, seconds a digit, alone.
            for latency in (0, LATENCY_S):
                for kinds in (("app", "pad"), ("sketchpad",)):
                    print(f"  {' and '.join(kinds)}, +{latency * 1000:.0f} ms: drawing {len(digits)} digits on each",
                          flush=True)
                    waits = measure(browser, {kind: (servers[kind][2] if latency else servers[kind][0],
                                                     servers[kind][1]) for kind in kinds}, digits)
                    for kind in kinds:
                        measured[kind, latency] = [every_view(w) for w in waits[kind]]
                        follow_ups[kind, latency] = [w["follow-ups"] for w in waits[kind]]
                        rested[kind, latency] = sum(w.get("rested", False) for w in waits[kind])
            url, pid, far = servers["app"]
            # while the pen moves, at localhost and behind the added round trip (there every live request
            # is held back while the one before it is in flight)
            live = live_rate(browser, url), live_rate(browser, far)
            print(f"  app: drawing {len(numbers)} numbers of four digits", flush=True)
            waits = measure(browser, {"app": (url, pid)}, numbers)["app"]
            measured["numbers", 0] = [every_view(w) for w in waits]
            rested["numbers", 0] = sum(w["rested"] for w in waits)
            print(f"  app adapted to its visitor ({len(writer_rounds())} labelled drawings first), app as trained and "
                  f"no-op pad: drawing {len(digits)} digits on each", flush=True)
            statuses = []
            waits = measure(browser, {"adapted": (url, pid), "app": (url, pid), "pad": servers["pad"][:2]}, digits,
                            prepare={"adapted": lambda page, fetched: statuses.append(adapt_to_visitor(page, fetched))})
            adapted = {kind: [every_view(w) for w in waits[kind]] for kind in waits}
            adapted["rested"] = sum(w["rested"] for w in waits["adapted"])
            adapted["status"] = statuses[0]
            adapted["missing"] = [(i, [view for view, t in w.items() if t is None])
                                  for i, w in enumerate(waits["adapted"]) if every_view(w) is None]
        browser.close()
    return digits, measured, follow_ups, live, separate, adapted, rested


def report(digits, measured, follow_ups, live, separate, adapted, rested=None):
    strokes = [len(value["strokes"]) for _, value in digits]
    names = {"app": "app: every view shows the final drawing", "pad": "no-op, same pad: its answer shows it",
             "sketchpad": "no-op, gr.Sketchpad 280 px: its output's last change"}
    print(f"\nDigitPad in headless Chromium on {machine()}: mouse-up of the last stroke until the page shows the "
          f"final drawing\n({len(digits)} UNIPEN digits of writers no model trained on, {min(strokes)}-{max(strokes)} "
          f"strokes, drawn at a hand's pace; every wait bounded at {BOUND_S:.0f} s)")
    print(f"{'':<66}{'median':>9}{'p95':>9}{'missing':>9}{'fetches':>9}")
    medians = {}
    names["numbers"] = "app: a number of four digits, every view shows it"
    for (kind, latency), waits in measured.items():
        shown = np.array([w for w in waits if w is not None])
        median, p95 = (np.median(shown), np.percentile(shown, 95)) if len(shown) else (float("nan"),) * 2
        medians[kind, latency] = median
        name = f"{names[kind]}{f', +{latency * 1000:.0f} ms round trip' if latency else ''}"
        fetches = np.median(follow_ups.get((kind, latency), [0]))
        print(f"{name:<66}{median:>8.3f}s{p95:>8.3f}s{len(waits) - len(shown):>9}{fetches:>9.0f}")
    for (kind, latency), count in (rested or {}).items():
        if count:
            print(f"  {names[kind]}{f', +{latency * 1000:.0f} ms' if latency else ''}: {count} drawing"
                  f"{'s' * (count > 1)} shown before the mouse-up on views the final answer left unchanged (the pen "
                  "rested: the live answer had the whole drawing)")
    app = np.array([w if w is not None else np.inf for w in measured["app", 0]])
    for count in sorted(set(strokes)):
        chosen = app[[s == count for s in strokes]]
        print(f"  app, {count}-stroke digits ({len(chosen)}): median {np.median(chosen):.3f} s, max {chosen.max():.3f} s")
    vs_pad = medians["app", 0] / medians["pad", 0]
    vs_sketchpad = medians["sketchpad", 0] / medians["app", 0]
    (rate, seconds), (far_rate, far_seconds) = live
    print(f"app / no-op pad: {vs_pad:.2f}x; gr.Sketchpad no-op / app: {vs_sketchpad:.1f}x")
    if separate:  # not a target: what the shared cores cost the app
        apart_medians = {kind: np.median([w if w is not None else np.inf for w in waits])
                         for kind, waits in separate.items()}
        print(f"server on core 0, Chromium on core 1 (as a visitor and a Space): app {apart_medians['app']:.3f} s, "
              f"no-op pad {apart_medians['pad']:.3f} s: {apart_medians['app'] / apart_medians['pad']:.2f}x")
    print(f"while the pen moves: the views showed {rate:.1f} newer drawings a second during a {seconds:.1f} s stroke; "
          f"{far_rate:.1f} a second (a {far_seconds:.1f} s stroke) with +{LATENCY_S * 1000:.0f} ms round trip")
    print("fetches: requests the page made for a drawing besides the drawing's own (median per digit)")
    # Issue 30: the drawing path is not slowed with adaptation on (the same targets; against the app as trained
    # and the no-op pad drawn in turn with it).
    with_adaptation = {kind: np.array([w if w is not None else np.inf for w in adapted[kind]])
                       for kind in ("adapted", "app", "pad")}
    middle = {kind: np.median(waits) for kind, waits in with_adaptation.items()}
    print(f"with adaptation on ({adapted['status']}): median {middle['adapted']:.3f} s, p95 "
          f"{np.percentile(with_adaptation['adapted'], 95):.3f} s; in turn with it the app as trained "
          f"{middle['app']:.3f} s ({middle['adapted'] / middle['app']:.2f}x), the no-op pad {middle['pad']:.3f} s "
          f"({middle['adapted'] / middle['pad']:.2f}x)"
          + "".join(f"; digit {i + 1} never showed it in {', '.join(views)}" for i, views in adapted["missing"])
          + (f"; {adapted['rested']} shown before the mouse-up (the pen rested)" if adapted["rested"] else ""))
    missing = sum(w is None for w in measured["app", 0] + measured["app", LATENCY_S] + measured["numbers", 0]
                  + adapted["adapted"])
    numbers = np.array([w if w is not None else np.inf for w in measured["numbers", 0]])
    return bool(missing or medians["app", 0] > TARGETS["median_s"]
                or medians["numbers", 0] > TARGETS["median_s"] or np.percentile(numbers, 95) > TARGETS["p95_s"]
                or np.percentile(app, 95) > TARGETS["p95_s"]
                or middle["adapted"] > TARGETS["median_s"]
                or np.percentile(with_adaptation["adapted"], 95) > TARGETS["p95_s"]
                or medians["app", LATENCY_S] > TARGETS["latency_median_s"]
                or vs_pad > TARGETS["vs_pad_noop"] or vs_sketchpad < TARGETS["vs_sketchpad"]
                or rate < TARGETS["live_per_s"] or max(follow_ups["app", 0]) > 0)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--digits", type=int, default=12, help="pen-written digits drawn per server and latency")
    args = parser.parse_args(argv)
    failed = report(*run(args.digits))
    print("\nall targets met" if not failed else "\nSOME TARGETS MISSED (see the issue's targets)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
