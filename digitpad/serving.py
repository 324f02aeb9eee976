"""How the server bounds its work, so that a flood cannot starve an honest visitor or grow memory.

The pad's requests skip Gradio's queue (one round trip each), and with it the queue's limits, so the
bounds are set here:

- `BodyLimit`, an ASGI middleware: a request body over MAX_BODY bytes is refused with 413 and a
  message naming the limit, before it is read into memory or parsed (a real drawing's strokes are a
  few kilobytes; MAX_BODY is above what the stroke limits in `preprocess` allow), and bodies far
  larger than a digit's are let in one at a time (LARGE_AT_ONCE), so that parsing them cannot hold up small ones; one
  that holds more strokes than are read has a place of its own and, for the pad's events, is answered
  there by name, before Gradio parses it.
- `LiveDoor`, an ASGI middleware: a live drawing (the pen still moving) is answered at the door, past
  Gradio's handling of the request, which cost more than the app's work around the reading: by the
  app's own handler, or, while SHED_LIVE_AT of the pad's drawings are in progress, with nothing to
  change, so that under load the live updates thin out and a lifted pen's drawing (always through
  Gradio, into the session) does not queue behind them.
- `BatchReader`: the drawings that wait are read in batches, final drawings before live ones, cheapest
  first; at most MAX_WAITING wait and each visitor has at most one live and one final drawing in
  flight: beyond that a request is refused at once ("busy"), so honest visitors keep their place.
- `freeze_loaded_objects`: once the models are loaded, the objects made so far (TensorFlow's, Keras',
  Gradio's: half a million) are left out of the garbage collector's full passes.
"""

import asyncio
import gc
import heapq
import itertools
import json
import logging
import re
from typing import NamedTuple

import orjson

from digitpad.preprocess import MAX_STROKES


MAX_BODY = 128 << 10  # bytes: the largest drawing the stroke limits allow is about 70 KB of JSON
DRAIN = 64 << 20  # bytes: a refused body up to this size is read and dropped, so its sender reads why
SMALL_BODY = 16 << 10  # bytes: bodies up to this size (any real digit's strokes) go straight in ...
# ... larger ones this many at a time: each costs the event loop ~5 ms in Gradio (parsing, walking every list
# for files), so under a flood of them the loop was busy nearly all the time and a refused 8 MB body, read in
# a turn of the loop per chunk, waited 57-67 ms there with 2 places against 7-22 ms with 1 (taken in turn,
# four runs each of `benchmarks.hostile`'s stroke flood, 2026-12-07); no digit's strokes come near 16 KB.
LARGE_AT_ONCE = 1
LARGE_WAIT_S = 0.25  # seconds, waiting at most for a place, else refused ("busy")
# The end of a stroke in a body's JSON (`...[x, y]]`): the pad's strokes, counted without parsing them.
STROKE_END = b"]]"
# What every live drawing's body holds (the pad's value, `"live": true`), found without parsing the body.
LIVE_MARK = re.compile(rb'"live"\s*:\s*true')
# Drawings waiting to be read: more than a class drawing at once on one core; a flood of 30 visitors'
# maximal drawings (about 20 ms each to read) must not leave an honest visitor refused.
MAX_WAITING = 128
# The pad's drawings in progress at once (parsed, waiting or being read, answered) from which a live one is
# answered at the door, per core that reads: one core reads about 220 drawings a second with the live ones
# answered by the app at the door (`LiveDoor`), so this many are ~70 ms of its work. 8 (~50 ms when Gradio handled every
# drawing) shed live drawings the core had room for: taken in turn at 50 visitors, 8 gave 3.6 live updates a
# second each, 16 gave 3.6-4.2 (4.1, 4.2, 4.0, 3.6) with the lifted pens' p95 0.09-0.12 s; 20 and 24 no more
# updates, and later answers (README, "A class at once").
SHED_LIVE_AT = 16
# A shed live drawing's answer is held back up to this long, by the square of the share of the pad's
# recent requests shed (an average over about SHED_MEMORY of them): the pad keeps one live request in
# flight, so the more the server sheds the slower each visitor sends (a share of 0.15, 25 visitors on
# one core: 20 ms; 0.85, 80 visitors: 0.7 s). Answered at once, the shed requests of 80 visitors on one
# core (300 a second) took a third of the core that reads the drawings.
MAX_SHED_HOLD_S = 1.0
SHED_MEMORY = 64
MAX_BATCH = 32  # drawings read in one batch ...
MAX_BATCH_POINTS = 6_000  # ... and points: a digit drawn in a second is 50-150 (a class of 25 drawing at
# once, all waiting, fits in one batch); the largest drawings the limits allow (5,000) are read one at a
# time, so a cheap drawing never waits behind a batch of them


def freeze_loaded_objects():
    """Move every object alive now (what loading made) to the collector's permanent generation. Under a
    class's load, full collections of that heap took 8 % of the server's core, each stopping every
    request for about 0.3 s (measured on the 2-core EPYC, 80 visitors); these objects live as long as
    the process and hold no cycles to free, so scanning them again and again finds nothing."""
    gc.collect()
    gc.freeze()


class Busy(RuntimeError):
    """The server is at its bound; the message is meant for the visitor."""


class Superseded(RuntimeError):
    """A live drawing not read yet when the same visitor's pen lifted: the final drawing answers instead.
    `final`: the final drawing's Job, whose reading (its future) can answer the live request too."""

    def __init__(self, final):
        super().__init__("superseded by the final drawing")
        self.final = final


class Job(NamedTuple):
    drawing: object  # what `Predictor.predict_many` reads: checked strokes, say
    layers_of: object  # whose layers to keep: a key, keys or None
    shown: object  # what to show of it (workers.read_batch)
    future: asyncio.Future
    visitor: object = None


class BatchReader:
    """Reads the drawings that wait in batches: each batch is read (strokes -> 28x28) and goes through
    the five models in one fused call, by `read_batch`, a coroutine function
    `(drawings, layers_of, shown) -> [(Prediction, its views)]` (`workers.WorkerReader`
    in a worker process, or `workers.LocalReader` on a thread of the server's).

    Everything here runs on the server's event loop: no thread of its own competes for the GIL with
    the loop that answers every request. A batch of 16 drawings costs the models three times one.
    The order is a priority: final drawings (the pen lifted: the visitor waits for this answer) before
    live ones (the pen still moving: a newer one follows in a tenth of a second), then the cheapest
    (fewest points), then the oldest; so under load the live updates thin out and a lifted pen's
    answer does not wait behind them. A batch holds at most `max_batch` drawings and `max_points`
    points (one drawing at least), so a flood of the largest drawings is read one at a time and a digit
    never waits behind a batch of them. At most `max_waiting` drawings wait, and each visitor has at
    most one live and one final drawing waiting or being read: beyond that a drawing is refused at once
    (`Busy`). A final drawing supersedes the visitor's live one still waiting (`Superseded`, holding the
    final's Job, whose reading can answer both requests): one being
    read is answered first, so a live answer never arrives after the final one. `batches` batches may
    be read at once (a worker reads one while the next is on its way).
    """

    def __init__(self, read_batch, max_waiting=MAX_WAITING, max_batch=MAX_BATCH, batches=1,
                 max_points=MAX_BATCH_POINTS):
        self._read_batch = read_batch
        self._max_waiting, self._max_batch, self._batches = max_waiting, max_batch, batches
        self._max_points = max_points
        self._waiting = []  # heap of (live, cost, arrival, Job)
        self._arrivals = itertools.count()
        self._visitors = set()  # (visitor, live) with a drawing waiting or being read
        self._live = {}  # visitor -> their live drawing's Job, while it waits
        self._wakeup = None  # an asyncio.Event, made in the server's own loop on first use ...
        self._dispatchers = []  # ... with the tasks that read the batches

    async def read(self, drawing, layers_of=None, visitor=None, cost=0, live=False, shown=None):
        """What `read_batch` makes of the drawing; `Busy` at once when the bounds are reached."""
        slot = (visitor, bool(live))
        if visitor is not None and slot in self._visitors:
            raise Busy("One drawing at a time: the previous one is still being read.")
        if len(self._waiting) >= self._max_waiting:
            raise Busy("DigitPad is busy reading other drawings: try again in a moment.")
        if self._wakeup is None:
            self._wakeup = asyncio.Event()
            self._dispatchers = [asyncio.ensure_future(self._dispatch()) for _ in range(self._batches)]
        job = Job(drawing, layers_of, shown, asyncio.get_running_loop().create_future(), visitor)
        if visitor is not None and not live and visitor in self._live:  # the pen lifted: its live drawing goes
            self._live.pop(visitor).future.set_exception(Superseded(job))
        heapq.heappush(self._waiting, (bool(live), cost, next(self._arrivals), job))
        if visitor is not None and live:
            self._live[visitor] = job
        self._wakeup.set()
        self._visitors.add(slot)
        try:
            return await job.future
        finally:
            self._visitors.discard(slot)
            if self._live.get(visitor) is job:
                del self._live[visitor]

    async def _dispatch(self):
        while True:
            while not self._waiting:
                self._wakeup.clear()
                await self._wakeup.wait()
            batch, points = [], 0
            while self._waiting and len(batch) < self._max_batch and (
                    not batch or points + self._waiting[0][1] <= self._max_points):
                live, cost, _, job = heapq.heappop(self._waiting)
                if job.future.done():  # superseded, or its visitor left
                    continue
                if live and self._live.get(job.visitor) is job:  # being read: no longer superseded
                    del self._live[job.visitor]
                batch.append(job)
                points += cost
            if not batch:
                continue
            try:
                results = await self._read_batch(*zip(*[job[:3] for job in batch]))
            except Exception as error:  # the models failed to load, say: every visitor of the batch is told
                results = [error] * len(batch)
            for job, result in zip(batch, results):
                if not job.future.done():  # a visitor who left (a cancelled request) is not answered
                    (job.future.set_exception if isinstance(result, Exception) else job.future.set_result)(result)


class BodyLimit:
    """ASGI middleware in front of every request but file uploads (Gradio's /upload, whose images are
    checked from their headers by `digitpad.sketchpad`, keeps Gradio's own limits):

    - a body over `limit` bytes is refused (413, a JSON message naming the limit), counting the bytes
      as they arrive when the client sends no Content-Length;
    - a body over SMALL_BODY bytes (a drawing far larger than any digit: a 2-second stroke on the pad
      is about 4 KB) waits up to LARGE_WAIT_S for one of LARGE_AT_ONCE places, else it is refused (503,
      "busy"): parsing and validating tens of KB of JSON takes milliseconds of the one event loop every
      request shares, so a flood of them would otherwise hold up everyone's small drawings. A large body
      of more strokes than `preprocess` reads (counted by their ends in the JSON, before parsing) waits
      for a place of its own instead, so that a flood of the largest drawings allowed does not hold up
      its refusal, and a flood of such bodies paces itself there. There, a pad's request (a POST to
      /run/predict) is answered by `refuse_strokes(body)` (the event's answer, as JSON bytes; None: let
      Gradio answer): Gradio took 28 ms of the event loop to handle a body of 10^4 strokes (parsing it,
      walking every list in it for files) before the app named the limit.
    """

    def __init__(self, app, limit=MAX_BODY, refuse_strokes=None):
        self.app, self.limit, self.refuse_strokes = app, limit, refuse_strokes
        self._places = None  # {"large": LARGE_AT_ONCE places, "beyond": 1 for bodies of more strokes than read}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"].endswith("/upload"):
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        length = int(length) if length is not None and length.isdigit() else None
        if length is not None and length > self.limit:
            await self._discard(receive, length)
            return await self._refuse(send, 413, self._too_large())
        chunked = b"chunked" in dict(scope["headers"]).get(b"transfer-encoding", b"")
        if (length or 0) <= SMALL_BODY and not chunked:  # no body (a page, a file), or a digit's
            return await self._pass(scope, receive, send)
        if self._places is None:  # in the server's own event loop
            self._places = {"large": asyncio.Semaphore(LARGE_AT_ONCE), "beyond": asyncio.Semaphore(1)}
        try:
            body = await _read_body(receive, self.limit)  # read before it waits: at most `limit` bytes
        except _TooLarge:
            return await self._refuse(send, 413, self._too_large())
        place = self._places["beyond" if body.count(STROKE_END) > MAX_STROKES else "large"]
        try:  # a free place at once (wait_for would first go round the loop, behind everything else in it);
            # else a short wait for one paces a flood (a sender cannot retry faster than this) ...
            await (place.acquire() if not place.locked() else asyncio.wait_for(place.acquire(), LARGE_WAIT_S))
        except asyncio.TimeoutError:  # ... then refused: no work done for it, nothing kept
            return await self._refuse(send, 503, "DigitPad is busy reading other large drawings: try again in a "
                                                 "moment (a digit's strokes are a few KB).")
        try:
            refusal = (self.refuse_strokes(body) if place is self._places["beyond"] and self.refuse_strokes
                       and scope["path"].endswith("/run/predict") else None)
            if refusal is not None:
                return await _answer(send, 200, refusal)
            await self.app(scope, _replay(body, receive), send)
        finally:
            place.release()

    async def _pass(self, scope, receive, send):
        received = 0

        async def counted():
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:
                raise _TooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await self._refuse(send, 413, self._too_large())

    def _too_large(self):
        return (f"The request is too large: DigitPad accepts at most {self.limit >> 10} KB "
                "(a drawing's strokes are a few KB).")

    async def _discard(self, receive, length):
        """Read what the client sends and drop it (no more than DRAIN bytes), so that it gets to read
        the refusal instead of a reset connection; nothing is kept."""
        if length > DRAIN:
            return
        while True:
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body"):
                return

    async def _refuse(self, send, status, message):
        await _answer(send, status, json.dumps({"error": message}).encode())


class _TooLarge(Exception):
    pass


class LiveDoor:
    """ASGI middleware in front of the pad's requests (POSTs to Gradio's /run/predict), where its live
    drawings (the pen still moving: the strokes are the event's data, marked "live") are answered:

    - counted: while `at` or more of the pad's drawings are in progress, a live one is answered with
      `unchanged`, the event's answer that changes nothing on the page, so that under load the live
      updates thin out instead of lagging and the answers to lifted pens (never shed) do not queue
      behind them. That answer is held back the longer the more is shed (`hold`): it paces the pad's
      next live request, which costs the loop even when shed.
    - below that, with `answer` given, a live drawing is answered by `answer(scope, request)`, a
      coroutine function of the parsed request that returns the event's answer (`ui.event_answer`). A
      visitor drawing sends five live drawings for each lifted pen, and Gradio's own handling of a
      request (its routing, the session's state, the answer's walk through every output) cost more of
      the one event loop than the app's own work around the reading (`benchmarks.capacity`, see the
      README). An answer that fails unexpectedly is left to Gradio, which answers it as it would have.

    Every other request goes on to Gradio, its body intact: a lifted pen's drawing is kept in the
    session there (what a label refers to)."""

    def __init__(self, app, unchanged, at=SHED_LIVE_AT, max_hold=MAX_SHED_HOLD_S, answer=None):
        self.app, self.at, self.max_hold, self.answer = app, at, max_hold, answer
        self.unchanged = json.dumps(unchanged, separators=(",", ":")).encode()
        self.in_progress = 0
        self.shed_share = 0.0  # of the recent requests (a moving average)

    def hold(self):
        """Seconds to hold a shed answer now."""
        return self.max_hold * self.shed_share ** 2

    def count_request(self, shed):
        """One of the pad's requests, shed or let through: the moving share that sets `hold`."""
        self.shed_share += (float(shed) - self.shed_share) / SHED_MEMORY

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST" or not scope["path"].endswith("/run/predict"):
            return await self.app(scope, receive, send)
        shedding, live = self.in_progress >= self.at, None
        if shedding or self.answer is not None:
            body = await _read_body(receive)  # bounded by BodyLimit, in front of this
            live, receive = _live_request(body), _replay(body, receive)
        if live is not None and shedding:
            self.count_request(True)
            await asyncio.sleep(self.hold())
            return await _answer(send, 200, self.unchanged)
        self.count_request(False)
        self.in_progress += 1
        try:
            if live is not None:
                try:
                    answer = _json(await self.answer(scope, live))
                except Exception:  # Gradio answers it (and says why, as for any event)
                    logging.getLogger(__name__).exception("a live drawing's answer failed")
                else:
                    return await _answer(send, 200, answer)
            await self.app(scope, receive, send)
        finally:
            self.in_progress -= 1


async def _answer(send, status, body):
    """Send a JSON answer, from a middleware."""
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def _read_body(receive, limit=None):
    """A request's whole body; _TooLarge once it passes `limit` bytes."""
    body, more = b"", True
    while more:
        message = await receive()
        body, more = body + message.get("body", b""), message.get("more_body", False)
        if limit is not None and len(body) > limit:
            raise _TooLarge
    return body


def _live_request(body):
    """A /run/predict body parsed, if it is the pad's live drawing (its strokes as the event's data); else None.
    A body without `"live": true` in it is not parsed here (Gradio parses it): under a flood of the largest
    drawings, parsing every lifted pen's body here for nothing was a tenth of the event loop's time (py-spy)."""
    if LIVE_MARK.search(body) is None:
        return None
    try:
        request = orjson.loads(body)
        event_data = request.get("event_data")
    except (ValueError, AttributeError):
        return None  # not JSON, or not an object: Gradio answers it
    return request if isinstance(event_data, dict) and event_data.get("live") is True else None


def _json(content):
    """An answer's JSON, as Gradio writes its own (numpy's numbers included)."""
    return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)


def _replay(body, receive):
    """A `receive` that hands the app the body already read, then the client's own messages."""
    sent = False

    async def replayed():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()
    return replayed
