"""The embedded store survives a crash, five times each way:

- the store alone: a process saving labelled drawings from sixteen threads as fast as they can is
  killed with SIGKILL mid-run; every save it acknowledged (printed after its commit) is there.
- the app: `python app.py` on its default SQLite store, sixteen simulated visitors labelling their
  drawings with consent (tests/visitors.py), killed with SIGKILL mid-round and started again on the
  same file; every save a visitor's page acknowledged ("… of yours kept") is there.

Each time, none twice, and SQLite's integrity check passes."""

import asyncio
import json
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT

SAVER = """
import sys, threading
from digitpad.drawings import DrawingStore
from digitpad.catalog import MODEL_NAMES
store = DrawingStore(sys.argv[1])
lock = threading.Lock()
def visitor(v):
    for n in range(10_000):
        label = (v + n) % 10
        value = {"strokes": [[[40 + v * 10, 60], [60 + v * 10, 220], [200, 140 + label]]], "width": 280, "height": 280}
        saved = store.add(value, label, {k: [0.1] * 10 for k in MODEL_NAMES}, f"visit-{v}")
        with lock:  # acknowledged only after the commit returned
            print(saved, flush=True)
threads = [threading.Thread(target=visitor, args=(v,), daemon=True) for v in range(16)]
for t in threads: t.start()
for t in threads: t.join()
"""


@pytest.mark.slow
def test_sqlite_store_killed_mid_write_keeps_every_acknowledged_save(tmp_path):
    url = f"sqlite:///{tmp_path / 'drawings.sqlite'}"
    acknowledged = []
    for run in range(5):
        saver = subprocess.Popen([sys.executable, "-c", SAVER, url], cwd=ROOT, stdout=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 1.5
        lines = []
        while time.monotonic() < deadline:
            line = saver.stdout.readline()
            if not line:
                break
            lines.append(line)
        saver.send_signal(signal.SIGKILL)  # mid-write: sixteen threads are saving
        saver.wait(timeout=30)
        # Only whole lines count: a save is acknowledged once its id was printed in full.
        acknowledged += [int(line) for line in lines if line.strip().isdigit() and line.endswith("\n")]
        with sqlite3.connect(tmp_path / "drawings.sqlite") as connection:
            assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            ids = [row[0] for row in connection.execute("SELECT id FROM drawings")]
        assert len(ids) == len(set(ids))
        missing = set(acknowledged) - set(ids)
        assert not missing, f"run {run}: {len(missing)} acknowledged saves lost"
    print(f"{len(acknowledged)} acknowledged saves over five kills, all there")
    assert len(acknowledged) > 100  # the saver did save under way, every run


async def label_until_killed(url, process, pen_values, visit, seconds=4.0):
    """Sixteen visitors play rounds with consent on the app at `url` until it is killed after `seconds`;
    the stroke keys of the saves their pages acknowledged."""
    from tests.visitors import HttpVisitor, Run

    run = Run(url, pen_values)
    visitors = [HttpVisitor(n, run) for n in range(16)]
    for visitor in visitors:
        await visitor.open()
        visitor.load = visit  # the drawings of each restart are their own
    playing = [asyncio.ensure_future(visitor.play(3)) for visitor in visitors]
    await asyncio.sleep(seconds)
    process.send_signal(signal.SIGKILL)  # mid-round: some visitors are saving
    process.wait(timeout=30)
    await asyncio.gather(*playing, return_exceptions=True)  # their requests fail: the server is gone
    return [key for visitor in visitors for key, *_ in visitor.acknowledged]


@pytest.mark.slow
def test_the_app_killed_while_sixteen_visitors_label_keeps_every_acknowledged_save(tmp_path, pen_values):
    from benchmarks.capacity import hand_digits, warm
    from benchmarks.server import read_index, start_server
    from tests.visitors import key

    database = tmp_path / "drawings.sqlite"
    command = ["env", f"DIGITPAD_DB=sqlite:///{database}", "DIGITPAD_WORKER=0", sys.executable, "app.py"]
    acknowledged = []
    for visit in range(5):
        process, url, *_ = start_server(command, log=tmp_path / f"app-{visit}.log")  # opens the file as left
        warm(url, read_index(url), hand_digits())  # the models loaded: from now on drawings are read
        acknowledged += asyncio.run(label_until_killed(url, process, pen_values, visit))
        with sqlite3.connect(database) as connection:
            assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            stored = [key(json.loads(row[0])["strokes"]) for row in connection.execute("SELECT strokes FROM drawings")]
        assert len(stored) == len(set(stored)), f"run {visit}: a save is doubled"
        missing = set(acknowledged) - set(stored)
        assert not missing, f"run {visit}: {len(missing)} acknowledged saves lost"
    print(f"{len(acknowledged)} acknowledged saves over five kills of the app, all there once")
    assert len(acknowledged) >= 5 * 16  # every run, the visitors were saving when the app was killed
