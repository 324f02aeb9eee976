"""How many visitors drawing at once one core holds: `python -m benchmarks.capacity [--seconds 15]`.

The server is pinned to one core with `taskset` (core 0) and the simulated visitors run on the other
(core 1), in one asyncio loop of this process speaking plain HTTP/1.1 over one keep-alive connection
per event of each, so that the clients cost little and the same on every run. Each visitor draws real pen-written
digits of writers no model trained on (tests/fixtures/unipen_sample.npz) with the pad's own request
pattern (digitpad/pad.py, Gradio's `trigger_mode="always_last"`):

- a stroke is drawn at a hand's pace (SPEED canvas units a second, a point every FRAME_S);
- while the pen moves, the strokes so far are sent every SEND_EVERY ms ("live": true), as the pad's
  input event's data;
- on each lift the drawing is sent as it is ("live": false), as the pad's value (its change event);
  STROKE_PAUSE between strokes, DIGIT_PAUSE between digits;
- never two requests of one event in flight: a value set while one is in flight waits, and only the
  newest is sent; a lifted pen's drawing does not wait for a live one in flight (two events).

Per level (visitors drawing at once), for the app and for the no-op app with the same pad in the
same run, both running and taking each level in turn: the final answer's wait from the last lift
(p50 / p95), the live answers' wait from their send (p95), live answers a visitor gets a second (over
the whole run, pauses included: about 6 at most with this pattern), live drawings answered with
nothing to change ("shed": given way under load, or older than the visitor's lift), refusals ("busy"),
errors, requests answered a second and drawings read a second (answered with every view: the work
done), and the server's CPU time a request (its process and its reading worker, user + system:
steadier than the rates where a virtual machine's neighbours take the cores for a while). Then the
most visitors a core holds within TARGETS, and the app once more on both cores (unpinned, the clients
sharing them) at the busiest level, against its one-core figure (drawings read a second).

`--adapted` (issue 30: the capacity holds with adaptation on): the app alone, pinned, each level taken
in turn by new visitors, by visitors whose visit first labelled two rounds of one pen writer's digits
("Wrong? It was:", through Gradio's queue as the page sends it, untimed) and switched adaptation on, and
by such visitors labelling every digit they draw once its answer is back (a challenge's "Done": each label
refits their adaptation); the adapted visitors' answers are counted as adapted only when they say so, and
the labels' waits are timed.
"""

import argparse
import asyncio
import itertools
import json
import os
import time
import uuid
from urllib.parse import urlparse

import numpy as np

from benchmarks.server import (APP, FIXTURE, cpu_seconds, machine, noop_command, read_index, resident_mb, running,
                               wait_quiet, writer_rounds)
from digitpad import unipen
from digitpad.pad import EMPTY, SEND_EVERY

# Issue 29's levels, with 50 and 60 where the most a core holds falls (between 40 and 80 the figure could
# not tell 41 from 79), and 120, so that a server still within the targets at 80 is not counted as 80.
LEVELS = (5, 10, 20, 25, 30, 40, 50, 60, 80, 120)
SPEED = 400  # canvas units a second (of 280): a digit 60 % of the pad high takes about a second to write
FRAME_S = 0.016  # one pointer event a frame
STROKE_PAUSE = 0.25  # s between strokes
DIGIT_PAUSE = 0.6  # s between digits
TIMEOUT_S = 10.0  # a request unanswered this long is an error
TARGETS = {"final_p95_s": 0.15, "live_per_s": 4.0}  # and no refusal, no error
PAST_CAPACITY = {"level": 80, "final_p95_s": 0.5}
ADAPTED_LEVELS = (60, 80)  # --adapted: the most the app held in the latest runs, and past it
SERVER_CORE, CLIENT_CORE = 0, 1


# ---------------------------------------------------------------- the digits, as a hand draws them


def hand_digits():
    """[[(N, 2) points of a stroke, one a frame], ...] for every digit of the fixture, on the pad's canvas."""
    pen = unipen.load(FIXTURE)
    digits = []
    for strokes in pen.strokes:
        value = unipen.pad_value(strokes)
        paths = []
        for stroke in value["strokes"]:
            at = np.asarray(stroke, float)
            lengths = np.concatenate([[0], np.cumsum(np.hypot(*np.diff(at, axis=0).T))])
            steps = max(2, int(lengths[-1] / (SPEED * FRAME_S)) + 1)
            along = np.linspace(0, lengths[-1], steps)
            paths.append(np.round(np.stack([np.interp(along, lengths, at[:, 0]),
                                            np.interp(along, lengths, at[:, 1])], axis=1), 1))
        digits.append(paths)
    return digits


# ---------------------------------------------------------------- one visitor's connection and pad


class Connection:
    """One keep-alive HTTP/1.1 connection: POST a JSON body, read the answer."""

    def __init__(self, host, port):
        self.host, self.port, self.streams = host, port, None

    async def post(self, path, body):
        """(HTTP status, body bytes); reconnects once if the server closed the connection."""
        for attempt in (0, 1):
            if self.streams is None:
                self.streams = await asyncio.open_connection(self.host, self.port)
            reader, writer = self.streams
            try:
                writer.write(f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
                             f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head.split(b" ", 2)[1])
                length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:"))
                return status, await reader.readexactly(length)
            except (ConnectionError, asyncio.IncompleteReadError):
                writer.close()
                self.streams = None
                if attempt:
                    raise

    def close(self):
        if self.streams is not None:
            self.streams[1].close()


class Pad:
    """One of the pad's events as Gradio sends it (`always_last`): one request in flight, the newest
    value waits. The strokes are the event's data: the change event's when the pen lifted (the pad's
    value left empty), the input event's while it moves (each event on a keep-alive connection of its own)."""

    def __init__(self, connection, fn_index, session, stats, live=False):
        self.connection, self.fn_index, self.session, self.stats = connection, fn_index, session, stats
        self.live = live
        self.waiting = None  # (body, live, set at)
        self.flight = None  # the task sending

    def set(self, strokes, at, seq=None):
        live = self.live
        value = {"strokes": strokes, "width": 280, "height": 280, "live": live, "seq": seq}
        request = {"data": ["cnn_batchnorm", None, None] if live else [EMPTY, "cnn_batchnorm", None, None],
                   "event_data": value}
        body = json.dumps({**request, "fn_index": self.fn_index, "session_hash": self.session},
                          separators=(",", ":")).encode()
        self.waiting = (body, live, at)
        if self.flight is None or self.flight.done():
            self.flight = asyncio.ensure_future(self._send())
        return self.flight

    async def _send(self):
        """Send the waiting value, and again while a newer one waits; the final answer's time, if any."""
        answered = None
        while self.waiting is not None:
            body, live, at = self.waiting
            self.waiting = None
            try:
                status, answer = await asyncio.wait_for(
                    self.connection.post("/gradio_api/run/predict", body), TIMEOUT_S)
            except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, StopIteration) as error:
                self.stats["errors"].append(repr(error)[:120])
                self.connection.close()
                self.connection.streams = None
                continue
            now = time.perf_counter()
            self.stats["requests"] += 1
            if status != 200:
                (self.stats["refused"] if status == 503 else self.stats["errors"]).append(f"HTTP {status}")
                continue
            if b"is busy" in answer or b"One drawing at a time" in answer:
                self.stats["refused"].append("busy")
                continue
            if b"verdict" not in answer and b"data-points" not in answer:
                if live and b'"__type__":"update"' in answer:  # nothing to change: shed, or older than a lift
                    self.stats["unchanged"] += 1
                else:
                    self.stats["errors"].append(answer[:120].decode(errors="replace"))
                continue
            self.stats["adapted"] += b"adapted-note" in answer  # the visitor's adaptation answered
            if live:
                self.stats["live"].append(now - at)
            else:
                answered = now
        return answered


async def visitor(number, url, events, digits, start_at, deadline, stats, session=None, label=None):
    """Draw digits until the deadline, one after another, as the pad sends them; `events`: the fn_index
    of the pad's change (the pen lifted) and input (the pen moving) events; `session`: the visit's
    session hash (default: a new visit); `label(session, k)`: awaited once the k-th digit's answer is back."""
    rng = np.random.default_rng(number)
    address = urlparse(url)
    session = session or f"visitor-{number}-{time.time_ns()}"
    sends = itertools.count(1)  # the pad numbers what it sends, across its two events
    pad, moving = (Pad(Connection(address.hostname, address.port), fn_index, session, stats, live)
                   for fn_index, live in zip(events, (False, True)))
    await asyncio.sleep(max(0.0, start_at - time.perf_counter()))
    try:
        while time.perf_counter() < deadline:
            k = rng.integers(len(digits))
            paths, done = digits[k], []
            for i, path in enumerate(paths):
                if i:
                    await asyncio.sleep(STROKE_PAUSE)
                began = time.perf_counter()
                lift = began + (len(path) - 1) * FRAME_S
                sent = began
                while True:  # the pad's timer: the strokes so far every SEND_EVERY ms while the pen moves
                    due = sent + SEND_EVERY / 1000
                    if due >= lift:
                        break
                    await asyncio.sleep(due - time.perf_counter())
                    sent = time.perf_counter()
                    frames = min(len(path), int((sent - began) / FRAME_S) + 1)
                    moving.set(done + [path[:frames].tolist()], sent, next(sends))
                await asyncio.sleep(max(0.0, lift - time.perf_counter()))
                done.append(path.tolist())
                lifted = time.perf_counter()
                flight = pad.set(done, lifted, next(sends))
            answered = await flight  # the answer to the last lift (the digit's final drawing)
            if answered is not None and lifted < deadline:
                stats["final"].append(answered - lifted)
            if label is not None and answered is not None:
                sent = time.perf_counter()
                try:
                    await label(session, k)
                    stats["labels"].append(time.perf_counter() - sent)
                except Exception as error:  # noqa: BLE001 (a refused or lost label is counted, not raised)
                    stats["errors"].append(f"label: {error!r}"[:120])
            await asyncio.sleep(DIGIT_PAUSE)
    finally:
        pad.connection.close()
        moving.connection.close()


async def level(url, events, digits, visitors, seconds, sessions=None, label=None):
    """One level's figures: `visitors` drawing at once for `seconds` (starts spread over a second);
    `sessions`: their session hashes (default: new visits); `label`: see `visitor`."""
    stats = {"final": [], "live": [], "refused": [], "errors": [], "requests": 0, "unchanged": 0, "adapted": 0,
             "labels": []}
    start = time.perf_counter() + 0.2
    deadline = start + 1.0 + seconds
    counted_from = time.perf_counter()
    await asyncio.gather(*[visitor(i, url, events, digits, start + i / visitors, deadline, stats,
                                   sessions[i] if sessions else None, label) for i in range(visitors)])
    elapsed = time.perf_counter() - counted_from
    pct = lambda values, q: float(np.percentile(values, q)) if values else float("nan")  # noqa: E731
    return {"visitors": visitors, "final_p50_s": pct(stats["final"], 50), "final_p95_s": pct(stats["final"], 95),
            "live_p95_s": pct(stats["live"], 95), "live_per_s": len(stats["live"]) / elapsed / visitors,
            "refused": len(stats["refused"]), "errors": len(stats["errors"]),
            "unchanged_per_s": stats["unchanged"] / elapsed / visitors,
            "requests": stats["requests"], "requests_per_s": stats["requests"] / elapsed,
            "read_per_s": (stats["requests"] - stats["unchanged"] - len(stats["refused"]) - len(stats["errors"])) / elapsed,
            "adapted_share": stats["adapted"] / max(1, len(stats["live"]) + len(stats["final"])),
            "labels": len(stats["labels"]), "label_p50_s": pct(stats["labels"], 50),
            "label_p95_s": pct(stats["labels"], 95),
            "first_errors": stats["errors"][:3]}


def within_targets(row):
    return (row["final_p95_s"] <= TARGETS["final_p95_s"] and row["live_per_s"] >= TARGETS["live_per_s"]
            and not row["refused"] and not row["errors"])


# ---------------------------------------------------------------- one server, every level


def warm(url, fn_index, digits):
    """Until the server answers a drawing (the app's models load in the background)."""
    async def once():
        address = urlparse(url)
        connection = Connection(address.hostname, address.port)
        stats = {"final": [], "live": [], "refused": [], "errors": [], "requests": 0, "unchanged": 0, "adapted": 0,
                 "labels": []}
        pad = Pad(connection, fn_index, "warm", stats)
        for _ in range(600):
            answered = await pad.set([path.tolist() for path in digits[0]], time.perf_counter())
            if answered is not None:
                break
            await asyncio.sleep(0.1)
        connection.close()
        return answered is not None
    if not asyncio.run(once()):
        raise SystemExit(f"{url} never answered a drawing")


def measure(commands, digits, levels, seconds, pinned=True):
    """{name: [row per level]} for servers started by `commands` ({name: command}), each pinned to
    SERVER_CORE unless `pinned` is False. The servers run at once and take the levels in turn (every
    server a level before the next level, the order reversed every level; the others idle meanwhile), so
    that they are compared under the same conditions: measured one after the other, minutes apart, their
    figures moved with the machine's speed."""
    pin = ["taskset", "-c", str(SERVER_CORE)] if pinned else []
    with running({name: pin + command for name, command in commands.items()}) as started:
        servers = {name: (process, url, (read_index(url), read_index(url, "input")))
                   for name, (process, url) in started.items()}
        for _, url, events in servers.values():
            warm(url, events[0], digits)
        for process, *_ in servers.values():
            wait_quiet(process.pid)  # the app's own process still loading its models in the background
        rows = {name: [] for name in servers}
        for i, visitors in enumerate(levels):
            for name in list(servers)[:: 1 if i % 2 == 0 else -1]:
                process, url, events = servers[name]
                used = cpu_seconds(process.pid)
                row = asyncio.run(level(url, events, digits, visitors, seconds))
                row["cpu_ms"] = (cpu_seconds(process.pid) - used) * 1000 / max(1, row["requests"])
                row["memory_mb"] = resident_mb(process.pid)
                rows[name].append(row)
                print(format_row(name + (" 1 core" if pinned else " 2 cores"), row), flush=True)
        return rows


# ---------------------------------------------------------------- visitors the app adapted to (issue 30)


ADAPT_STATUS = 9  # the adaptation's status line among a label's outputs (`ui.DigitPad._labelled_views`)


class Labels:
    """A visit's labels as the page sends them: "Wrong? It was:" and the adaptation's switch, through
    Gradio's queue (join, then read the session's stream until the answer)."""

    def __init__(self, client, config):
        ids = {c["props"].get("elem_id"): c["id"] for c in config["components"]}
        # {(component id, trigger): fn_index} of the page's events
        self.events = {tuple(d["targets"][0]): i for i, d in enumerate(config["dependencies"]) if d["targets"]}
        self.client, self.read = client, self.events[ids["sketchpad"], "change"]
        self.correction, self.switch = (ids["correction"], "input"), (ids["adapt"], "input")

    async def queued(self, session, target, data):
        joined = (await self.client.post("gradio_api/queue/join", json={
            "data": data, "fn_index": self.events[target], "trigger_id": target[0], "session_hash": session,
            "event_data": None})).json()
        async with self.client.stream("GET", "gradio_api/queue/data", params={"session_hash": session}) as stream:
            async for line in stream.aiter_lines():
                message = json.loads(line[5:]) if line.startswith("data:") else {}
                if message.get("event_id") == joined["event_id"] and message["msg"] == "process_completed":
                    if not message["success"]:
                        raise RuntimeError(f"a label was refused: {message}")
                    return message["output"]["data"]
        raise RuntimeError("a label was never answered")

    async def label(self, session, digit):
        """"Wrong? It was: `digit`" for the visit's last drawing."""
        return await self.queued(session, self.correction, [None, None, str(digit), False, "cnn_batchnorm"])

    async def adapted_visit(self, labelled):
        """The session hash of a new visit that labelled `labelled` drawings (each drawn, its final drawing
        sent, then labelled) and switched adaptation on."""
        session = f"adapted-{uuid.uuid4().hex[:10]}"
        for digit, value in labelled:
            # No "seq" (the pad numbers its drawings): the level's drawings of this visit number theirs from 1
            response = await self.client.post("gradio_api/run/predict", json={
                "data": [EMPTY, "cnn_batchnorm", None, None], "event_data": {**value, "live": False},
                "fn_index": self.read, "session_hash": session})
            response.raise_for_status()
            await self.label(session, digit)
        for _ in range(100):  # the adaptation is refitted behind the labels (digitpad.refits): until it has all
            status = (await self.queued(session, self.switch, [None, True, "cnn_batchnorm"]))[ADAPT_STATUS]
            if "Learning" not in status:
                break
            await asyncio.sleep(0.2)
        if not (status.startswith("On:") and f"<b>{len(labelled)}</b>" in status and "changed:" in status):
            raise RuntimeError(f"the adaptation did not learn the labels or changed no model: {status}")
        return session


async def adapted_visits(url, count):
    """`count` session hashes of visits adapted to two rounds of a pen writer (four made at a time)."""
    import httpx

    labelled, at_once = writer_rounds(), asyncio.Semaphore(4)
    async with httpx.AsyncClient(base_url=url, timeout=TIMEOUT_S * 3) as client:
        labels = Labels(client, (await client.get("config")).json())

        async def one():
            async with at_once:
                return await labels.adapted_visit(labelled)
        return await asyncio.gather(*[one() for _ in range(count)])


async def labelling_level(url, events, digits, visitors, seconds, sessions):
    """`level`, each visitor labelling every digit it draws once its answer is back (a challenge's "Done"),
    so that its adaptation is refitted while the others draw; the labels' waits in the row."""
    import httpx

    truth = unipen.load(FIXTURE).labels
    async with httpx.AsyncClient(base_url=url, timeout=TIMEOUT_S,
                                 limits=httpx.Limits(max_connections=2 * visitors)) as client:
        labels = Labels(client, (await client.get("config")).json())
        return await level(url, events, digits, visitors, seconds, sessions,
                           label=lambda session, k: labels.label(session, int(truth[k])))


def measure_adapted(digits, levels, seconds):
    """{population: [row per level]}: the app pinned to SERVER_CORE, each level taken in turn by new visitors,
    by visitors it adapted to (made before the level, untimed), and by adapted visitors who label each digit
    they draw (the adaptation refitted on every label, as in a challenge's third round)."""
    populations = ("as trained", "adapted", "adapted, labelling")
    with running({"app": ["taskset", "-c", str(SERVER_CORE)] + APP}) as started:
        process, url = started["app"]
        events = read_index(url), read_index(url, "input")
        warm(url, events[0], digits)
        wait_quiet(process.pid)
        rows = {name: [] for name in populations}
        for i, visitors in enumerate(levels):
            sessions = asyncio.run(adapted_visits(url, 2 * visitors))
            wait_quiet(process.pid)
            for name in populations[:: 1 if i % 2 == 0 else -1]:
                used = cpu_seconds(process.pid)
                if name == "adapted, labelling":
                    row = asyncio.run(labelling_level(url, events, digits, visitors, seconds, sessions[visitors:]))
                else:
                    row = asyncio.run(level(url, events, digits, visitors, seconds,
                                            sessions[:visitors] if name == "adapted" else None))
                row["cpu_ms"] = (cpu_seconds(process.pid) - used) * 1000 / max(1, row["requests"])
                row["memory_mb"] = resident_mb(process.pid)
                rows[name].append(row)
                print(format_row(name[:14], row) + f"{row['adapted_share']:>9.0%}"
                      + (f"{row['label_p50_s']:>9.3f}s{row['label_p95_s']:>8.3f}s" if row["labels"] else ""),
                      flush=True)
        return rows


def format_row(name, row):
    return (f"{name:<14}{row['visitors']:>9}{row['final_p50_s']:>9.3f}s{row['final_p95_s']:>8.3f}s"
            f"{row['live_p95_s']:>8.3f}s{row['live_per_s']:>9.1f}{row['unchanged_per_s']:>7.1f}{row['refused']:>8}{row['errors']:>7}"
            f"{row['requests_per_s']:>9.0f}{row['read_per_s']:>8.0f}{row['cpu_ms']:>8.1f}{row['memory_mb']:>8.0f}")


HEADER = (f"{'server':<14}{'visitors':>9}{'final p50':>10}{'p95':>9}{'live p95':>9}{'live/s':>9}{'shed/s':>7}{'busy':>8}"
          f"{'errors':>7}{'req/s':>9}{'read/s':>8}{'CPU ms':>8}{'MB':>8}")


def most_within(rows):
    return max((row["visitors"] for row in rows if within_targets(row)), default=0)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="per level")
    parser.add_argument("--levels", type=int, nargs="+", default=list(LEVELS))
    parser.add_argument("--app-only", action="store_true", help="skip the no-op pad app")
    parser.add_argument("--json", help="also write the rows to this file")
    parser.add_argument("--adapted", action="store_true",
                        help="the app with visitors it adapted to against new visitors, at --levels (default 60 80)")
    args = parser.parse_args(argv)
    if len(os.sched_getaffinity(0)) < 2:
        raise SystemExit("the capacity benchmark needs two cores: the server's and the clients'")
    digits = hand_digits()
    if args.adapted:
        return adapted_main(digits, ADAPTED_LEVELS if args.levels == list(LEVELS) else args.levels, args.seconds)
    print(f"DigitPad capacity on {machine()}: server pinned to core {SERVER_CORE}, visitors on core "
          f"{CLIENT_CORE}, {args.seconds:g} s a level")
    print(HEADER)
    os.sched_setaffinity(0, {CLIENT_CORE})
    pinned = measure({"app": APP} if args.app_only else {"app": APP, "no-op": noop_command("pad")},
                     digits, args.levels, args.seconds)
    app, noop = pinned["app"], pinned.get("no-op", [])
    os.sched_setaffinity(0, {SERVER_CORE, CLIENT_CORE})
    busiest = max(args.levels)
    both = measure({"app": APP}, digits, [busiest], args.seconds, pinned=False)["app"][0]
    one = next(row for row in app if row["visitors"] == busiest)
    app_most, noop_most = most_within(app), most_within(noop)
    past = next((row for row in app if row["visitors"] == PAST_CAPACITY["level"]), None)
    checks = {
        f"app holds >= 25 visitors a core within targets ({app_most})": app_most >= 25,
        # Drawings read (answered with every view) a second: a live drawing shed at the door is an
        # answer too, but no work, and the busier one core is the more it sheds.
        f"both cores used: {both['read_per_s']:.0f} / {one['read_per_s']:.0f} drawings read a second >= 1.6x":
            both["read_per_s"] >= 1.6 * one["read_per_s"],
    }
    if noop:
        checks[f"app >= 0.6x the no-op's visitors a core ({app_most} vs {noop_most})"] = app_most >= 0.6 * noop_most
    if past is not None:
        checks[f"past capacity ({PAST_CAPACITY['level']} on one core): no errors, final p95 "
               f"{past['final_p95_s']:.3f} s <= {PAST_CAPACITY['final_p95_s']} s"] = (
            not past["errors"] and past["final_p95_s"] <= PAST_CAPACITY["final_p95_s"])
    print(f"\nmost visitors a core within targets (final p95 <= {TARGETS['final_p95_s']} s, >= "
          f"{TARGETS['live_per_s']:g} live answers a second each, no refusal, no error): app {app_most}"
          + (f", no-op pad {noop_most}" if noop else ""))
    for row in app + noop + [both]:
        if row["first_errors"]:
            print(f"  errors at {row['visitors']}: {row['first_errors']}")
    for text, ok in checks.items():
        print(("met:    " if ok else "MISSED: ") + text)
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"app": app, "noop": noop, "both_cores": both}, out, indent=1)
    raise SystemExit(0 if all(checks.values()) else 1)


def adapted_main(digits, levels, seconds):
    print(f"DigitPad capacity with adaptation on, {machine()}: server pinned to core {SERVER_CORE}, visitors on core "
          f"{CLIENT_CORE}, {seconds:g} s a level; adapted visitors labelled {len(writer_rounds())} pen digits first")
    print(HEADER + f"{'adapted':>9}{'label p50':>10}{'p95':>9}")
    os.sched_setaffinity(0, {CLIENT_CORE})
    rows = measure_adapted(digits, levels, seconds)
    checks = {}
    for trained, adapted in zip(rows["as trained"], rows["adapted"]):
        n = adapted["visitors"]
        checks[f"{n} adapted visitors' answers said they were adapted ({adapted['adapted_share']:.0%})"] = (
            adapted["adapted_share"] >= 0.95)
        print(f"at {n}: server CPU a request {adapted['cpu_ms']:.2f} ms adapted, {trained['cpu_ms']:.2f} ms as trained "
              f"({adapted['cpu_ms'] / trained['cpu_ms']:.2f}x); drawings read a second {adapted['read_per_s']:.0f} / "
              f"{trained['read_per_s']:.0f}")
    adapted_most, trained_most = most_within(rows["adapted"]), most_within(rows["as trained"])
    checks[f"visitors a core within targets with adaptation on as without: {adapted_most} / {trained_most} "
           f"(of the levels {', '.join(str(n) for n in levels)})"] = adapted_most >= trained_most > 0
    # Not a target of issue 30's: a class in a challenge labels as it draws, and every label refits.
    labelling = rows["adapted, labelling"]
    print(f"adapted visitors labelling every digit they draw: {most_within(labelling)} a core within the drawing "
          "targets; " + "; ".join(f"at {row['visitors']} {row['labels']} labels, {row['label_p50_s']:.3f} / "
                                   f"{row['label_p95_s']:.3f} s (p50 / p95)" for row in labelling))
    for text, ok in checks.items():
        print(("met:    " if ok else "MISSED: ") + text)
    raise SystemExit(0 if all(checks.values()) else 1)


if __name__ == "__main__":
    main()
