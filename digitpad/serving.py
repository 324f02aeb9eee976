"""How the server bounds its work, so that a flood cannot starve an honest visitor or grow memory.

The pad's requests skip Gradio's queue (one round trip each), and with it the queue's limits, so the
bounds are set here:

- `BodyLimit`, an ASGI middleware: a request body over MAX_BODY bytes is refused with 413 and a
  message naming the limit, before it is read into memory or parsed (a real drawing's strokes are a
  few kilobytes; MAX_BODY is above what the stroke limits in `preprocess` allow), and bodies far
  larger than a digit's are let in two at a time, so that parsing them cannot hold up small ones.
- `Readers`: at most READERS drawings are read at once (the cores there are), at most MAX_WAITING wait
  for them, cheapest first, and each visitor has at most one drawing in flight: beyond that a request
  is refused at once ("busy") instead of holding a thread, so honest visitors keep their place.
"""

import asyncio
import heapq
import itertools
import json
import os
import threading
from contextlib import contextmanager

MAX_BODY = 128 << 10  # bytes: the largest drawing the stroke limits allow is about 70 KB of JSON
DRAIN = 64 << 20  # bytes: a refused body up to this size is read and dropped, so its sender reads why
SMALL_BODY = 16 << 10  # bytes: bodies up to this size (any real digit's strokes) go straight in ...
LARGE_AT_ONCE = 2  # ... larger ones this many at a time, waiting at most
LARGE_WAIT_S = 0.25  # seconds for a place, else refused ("busy")
READERS = os.cpu_count() or 2
# Readings waiting for a reader. Gradio runs handlers on a pool of 40 threads; a flood of 30 visitors'
# maximal drawings (about 20 ms each to read) must not leave an honest visitor refused.
MAX_WAITING = 36


class Busy(RuntimeError):
    """The server is at its bound; the message is meant for the visitor."""


class Readers:
    """A bounded, fair gate in front of the work of reading a drawing.

    At most `readers` drawings are read at once and `max_waiting` wait; each visitor has at most one
    drawing waiting or being read. Waiting drawings are read cheapest first (`cost`: their number of
    points), then in order of arrival: a digit of a few hundred points never waits behind a queue of
    the largest drawings the limits allow, so a flood of them cannot starve an honest visitor.
    """

    def __init__(self, readers=READERS, max_waiting=MAX_WAITING):
        self._free = readers
        self._lock = threading.Lock()
        self._waiting = []  # heap of (cost, arrival, event)
        self._arrivals = itertools.count()
        self._max_waiting = max_waiting
        self._visitors = set()  # visitors with a drawing waiting or being read

    @contextmanager
    def reading(self, visitor=None, cost=0):
        turn = None
        with self._lock:
            if visitor is not None and visitor in self._visitors:
                raise Busy("One drawing at a time: the previous one is still being read.")
            if self._free and not self._waiting:
                self._free -= 1
            elif len(self._waiting) >= self._max_waiting:
                raise Busy("DigitPad is busy reading other drawings: try again in a moment.")
            else:
                turn = threading.Event()
                heapq.heappush(self._waiting, (cost, next(self._arrivals), turn))
            if visitor is not None:
                self._visitors.add(visitor)
        try:
            if turn is not None:
                turn.wait()  # a finishing reader hands its place over
            yield
        finally:
            with self._lock:
                self._visitors.discard(visitor)
                if self._waiting:
                    heapq.heappop(self._waiting)[2].set()
                else:
                    self._free += 1


class BodyLimit:
    """ASGI middleware in front of every request but file uploads (Gradio's /upload, whose images are
    checked from their headers by `digitpad.sketchpad`, keeps Gradio's own limits):

    - a body over `limit` bytes is refused (413, a JSON message naming the limit), counting the bytes
      as they arrive when the client sends no Content-Length;
    - a body over SMALL_BODY bytes (a drawing far larger than any digit: a 2-second stroke on the pad
      is about 4 KB) waits up to LARGE_WAIT_S for one of LARGE_AT_ONCE places, else it is refused (503,
      "busy"): parsing and validating tens of KB of JSON takes milliseconds of the one event loop every
      request shares, so a flood of them would otherwise hold up everyone's small drawings.
    """

    def __init__(self, app, limit=MAX_BODY):
        self.app, self.limit = app, limit
        self._large = None  # asyncio.Semaphore of the places for large bodies

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
        if self._large is None:
            self._large = asyncio.Semaphore(LARGE_AT_ONCE)  # in the server's own event loop
        try:  # a short wait for a place paces a flood (a sender cannot retry faster than this) ...
            await asyncio.wait_for(self._large.acquire(), LARGE_WAIT_S)
        except asyncio.TimeoutError:  # ... then refused: no work done for it, nothing kept
            await self._discard(receive, length or 0)
            return await self._refuse(send, 503, "DigitPad is busy reading other large drawings: try again in a "
                                                 "moment (a digit's strokes are a few KB).")
        try:
            await self._pass(scope, receive, send)
        finally:
            self._large.release()

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
        body = json.dumps({"error": message}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass
