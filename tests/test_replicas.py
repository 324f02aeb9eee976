"""The real thing, as deploy/ runs it: two replicas of `python app.py` behind nginx (deploy/nginx.conf
itself, only its ports changed), sharing one PostgreSQL.

Ten simulated visitors (HTTP clients that send what the page sends: the pad's strokes, the
challenge's buttons through Gradio's queue, with the page's cookies) and one visitor in Chromium
drawing with the mouse play three challenge rounds with consent ticked. Every round completes and every
save acknowledged ("… of yours kept") is in the store exactly once. In the middle of the second
round, the replica holding the Chromium visitor is killed with SIGKILL: the other replica's visitors
carry on, their answers no slower than twice what they were; the dead replica's visitors are told so
on their next drawing within 2 s (the page: its red bar; nginx: a 502 with the message), reload,
land on the live replica and finish a round there; no acknowledged save is missing, none is doubled.
"""

import asyncio
import concurrent.futures
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

import pytest
import sqlalchemy as sa

from benchmarks.server import free_port, start_server, stop
from tests.conftest import ROOT
from tests.visitors import WAIT_S, HttpVisitor, Lost, Run, Visitor, key, unique

pytestmark = pytest.mark.slow  # nginx, PostgreSQL, two app servers and Chromium

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
SIMULATED = 10  # HTTP visitors, beside the one in Chromium
ARTIFACTS = ROOT / "artifacts"
LOST = "#server-lost"  # the page's bar when the server holding the visit stops answering

for missing, package in ((NGINX, "nginx"), (CHROMIUM, "chromium")):
    if not os.path.exists(missing):
        if os.environ.get("CI"):
            pytest.fail(f"{missing} is missing: .ci/run must install {package}", pytrace=False)
        pytest.skip(f"needs {package} (apt-get install {package})", allow_module_level=True)


# ---------------------------------------------------------------- the deployment


def nginx_config(folder, port, replicas):
    """deploy/nginx.conf with the test's ports, inside a main configuration of its own."""
    site = (ROOT / "deploy" / "nginx.conf").read_text()
    assert site.count("127.0.0.1:7861") == site.count("127.0.0.1:7862") == 3  # in the upstream and the map
    for shipped, address in zip(("127.0.0.1:7861", "127.0.0.1:7862"), replicas):
        site = site.replace(shipped, address)
    site = site.replace("listen 80;", f"listen 127.0.0.1:{port};")
    temp = " ".join(f"{kind}_temp_path {folder}/{kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return (("user root;\n" if os.geteuid() == 0 else "")
            + f"daemon off;\npid {folder}/nginx.pid;\nerror_log {folder}/error.log warn;\n"
            + f"events {{ worker_connections 1024; }}\nhttp {{\naccess_log off;\n{temp}\n{site}\n}}\n")


@pytest.fixture(scope="module")
def deployment(postgres_url, tmp_path_factory):
    """(nginx's URL, {replica address: process}); the replicas' and nginx's logs in a temporary folder."""
    folder = tmp_path_factory.mktemp("replicas")
    # Two replicas on this 2-core machine: each reads on its own thread (no reader process of its own).
    command = ["env", f"DIGITPAD_DB={postgres_url}", "DIGITPAD_WORKER=0", sys.executable, "app.py"]
    with concurrent.futures.ThreadPoolExecutor(2) as pool:  # both start at once, as a deployment's do
        started = list(pool.map(lambda n: start_server(command, log=folder / f"replica-{n}.log"), range(2)))
    replicas = {url.removeprefix("http://").rstrip("/"): process for process, url, *_ in started}
    port = free_port()
    (folder / "nginx.conf").write_text(nginx_config(folder, port, list(replicas)))
    proxy = subprocess.Popen([NGINX, "-c", str(folder / "nginx.conf"), "-p", str(folder)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                assert response.status == 200
            break
        except OSError:
            assert proxy.poll() is None, proxy.stderr.read()
            assert time.monotonic() < deadline, "nginx did not answer"
            time.sleep(0.2)
    yield url, replicas
    proxy.terminate()
    proxy.wait(timeout=10)
    for process in replicas.values():
        if process.poll() is None:
            stop(process)


# ---------------------------------------------------------------- the visitors


class BrowserVisitor(Visitor):
    """A person in Chromium: draws with the mouse, presses the page's buttons, reads its answers."""

    def __init__(self, number, run, context):
        super().__init__(number, run)
        self.context, self.page = context, None

    def saved_as(self, value):
        return None  # the mouse's strokes are the pad's own, not known beforehand

    async def open(self):
        self.page = self.page or await self.context.new_page()
        await self.page.goto(self.run.url)
        await self.page.locator("#sketchpad canvas[data-ready]").wait_for(timeout=WAIT_S * 1000)
        self.replica = {c["name"]: c["value"] for c in await self.context.cookies()}["digitpad_replica"]
        self.load += 1

    async def until(self, condition, since):
        """Until the JS `condition` holds; Lost if the page shows its bar first."""
        handle = await self.page.wait_for_function(
            f"() => ({condition}) ? 'done' : (document.querySelector('{LOST}') ? 'lost' : false)",
            timeout=WAIT_S * 1000, polling=20)
        if await handle.json_value() == "lost":
            told = time.monotonic()
            ARTIFACTS.mkdir(exist_ok=True)
            await self.page.screenshot(path=ARTIFACTS / "replica-lost.png")
            raise Lost(await self.page.locator(LOST).inner_text(), since, told)

    async def start_round(self):
        await self.page.locator("#consent input").check()
        await self.page.locator("#challenge-start").click()

    async def asked(self, asked):
        # Asked, the pad cleared, and the cleared pad's answer back: then the visitor draws.
        await self.until(f"document.querySelector('#challenge-prompt')?.innerText.includes('({asked} of 10)')"
                         " && document.querySelector('#sketchpad canvas').dataset.points === '0'"
                         " && document.querySelector('#verdict [data-points]')?.dataset.points === '0'", time.monotonic())
        return int(re.search(r"Draw a (\d)", await self.page.locator("#challenge-prompt").inner_text()).group(1))

    async def draw(self, value, since):
        canvas = self.page.locator("#sketchpad canvas")
        await canvas.scroll_into_view_if_needed()
        box = await canvas.bounding_box()
        for stroke in value["strokes"]:
            at = [(box["x"] + x / value["width"] * box["width"], box["y"] + y / value["height"] * box["height"])
                  for x, y in stroke[::3] + stroke[-1:]]
            await self.page.mouse.move(*at[0])
            await self.page.mouse.down()
            for x, y in at[1:]:
                await self.page.mouse.move(x, y)
            await self.page.mouse.up()
        # The final drawing's answer: "Inside a model" comes only with it.
        await self.until("(p => p && p !== '0' && ['verdict', 'activations'].every(id => document.querySelector("
                         "`#${id} [data-points]`)?.dataset.points === p))(document.querySelector("
                         "'#sketchpad canvas').dataset.points)", since)

    async def label(self, since):
        saves = sum(load == self.load for *_, load in self.acknowledged) + 1
        await self.page.locator("#challenge-next").click()
        try:
            await self.until(f"document.querySelector('#save-status')?.innerText.includes('({saves} of yours kept)')", since)
        except Lost:
            raise
        except Exception:  # no answer: the server went while saving; the visitor draws again, and is told
            if self.run.killed is None:
                raise
            since = time.monotonic()
            await self.page.evaluate("() => document.querySelector('#sketchpad .pad-clear').click()")
            await self.draw(unique(self.run.pen_values[1], self.number, 9, 9), since)
        return await self.page.locator("#save-status").inner_text()


async def visit_all(url, replicas, pen_values):
    """Round 1 with both replicas; rounds 2 and 3 with the Chromium visitor's replica killed in the middle of
    round 2 (round 3 is the survivor's steady state, not only the moment its new visitors arrive)."""
    from playwright.async_api import async_playwright

    run = Run(url, pen_values)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        visitors = [BrowserVisitor(0, run, await browser.new_context(viewport={"width": 1280, "height": 1000}))]
        visitors += [HttpVisitor(n, run) for n in range(1, SIMULATED + 1)]
        for visitor in visitors:  # one after another: nginx sends new visits to the replicas in turn
            await visitor.open()
        await asyncio.gather(*(v.play(1) for v in visitors))
        first = [len(v.acknowledged) for v in visitors]
        run.dead = visitors[0].replica
        playing = [asyncio.ensure_future(v.play(3)) for v in visitors]
        while min(len(v.acknowledged) for v in visitors) < 13 and not any(p.done() for p in playing):
            await asyncio.sleep(0.05)
        replicas[run.dead].send_signal(signal.SIGKILL)
        run.killed = time.monotonic()
        await asyncio.gather(*playing)
        await browser.close()
    return run, visitors, first


def p95(values):
    values = sorted(values)
    return values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]


def test_two_replicas_behind_nginx_lose_no_acknowledged_save_when_one_is_killed(deployment, postgres_url, pen_values):
    url, replicas = deployment
    engine = sa.create_engine(postgres_url)
    with engine.connect() as connection:  # rows other tests left are theirs
        before = (connection.execute(sa.text("SELECT coalesce(max(id), 0) FROM drawings")).scalar()
                  if sa.inspect(connection).has_table("drawings") else 0)
    run, visitors, first = asyncio.run(visit_all(url, replicas, pen_values))
    with engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT session, strokes FROM drawings WHERE id > :before"),
                                  {"before": before}).all()

    homes = {v.number: v.answers[0][1] for v in visitors}
    assert set(homes.values()) == set(replicas)  # new visits went to both replicas
    assert first == [10] * len(visitors)  # round 1: every visitor's ten saves acknowledged
    assert all(v.rounds == 3 for v in visitors)  # rounds 2 and 3 too, the dead replica's visitors after a reload

    # The store: each acknowledged save exactly once; nothing doubled.
    stored = [key((json.loads(s) if isinstance(s, str) else s)["strokes"]) for _, s in rows]
    assert len(stored) == len(set(stored)), "a save is doubled"
    simulated = [k for v in visitors[1:] for k, *_ in v.acknowledged]
    missing = [k for k in simulated if k not in set(stored)]
    assert not missing, f"{len(missing)} acknowledged saves missing"
    # A save the kill cut off may be stored without its acknowledgement: at most one a visitor.
    labelled = {k for v in visitors[1:] for k in v.labelled}
    unacknowledged = [k for k in stored if k in labelled and k not in set(simulated)]
    assert len(unacknowledged) <= sum(homes[v.number] == run.dead for v in visitors[1:])
    # The Chromium visitor's strokes are its mouse's: its rows are those no simulated visitor sent to be saved;
    # each of its visits (page loads) has what its page acknowledged, at most one more (a save the kill cut off).
    browser_rows = [session for (session, _), k in zip(rows, stored) if k not in labelled]
    loads = [load for *_, load in visitors[0].acknowledged]
    per_visit = sorted(browser_rows.count(s) for s in set(browser_rows))
    assert len(per_visit) == len(set(loads))
    assert all(a <= b <= a + 1 for a, b in zip(sorted(loads.count(n) for n in set(loads)), per_visit))

    # The killed replica's visitors were told within 2 s and went on; the live replica's did not notice.
    live = next(r for r in replicas if r != run.dead)
    on_dead = [v for v in visitors if homes[v.number] == run.dead]
    assert on_dead and all(v.told for v in on_dead) and all(v.replica == live for v in visitors)
    assert not any(v.told for v in visitors if homes[v.number] == live)
    told = max(s for v in on_dead for s in v.told)
    stayed = [a for v in visitors[1:] if homes[v.number] == live for a in v.answers]
    before_kill, after_kill = p95([s for s, _, after in stayed if not after]), p95([s for s, _, after in stayed if after])
    print(f"\n{len(visitors)} visitors ({len(on_dead)} on the killed replica), {len(rows)} saves stored, "
          f"{sum(len(v.acknowledged) for v in visitors)} acknowledged, 0 missing, 0 doubled; told within {told:.2f} s; "
          f"the live replica's visitors' answers p95 {before_kill:.3f} s before the kill, {after_kill:.3f} s after")
    assert told <= 2.0
    assert after_kill <= 2 * before_kill
