"""Simulated visitors of a running app: HTTP clients that send what the page sends (the page load and
its cookies, the pad's strokes answered directly, the challenge's buttons through Gradio's queue) and
play challenge rounds with consent, keeping what the page acknowledged. Used by the tests that run
the app as it is deployed (tests/test_replicas.py, tests/test_crash.py)."""

import asyncio
import json
import re
import time
import uuid

SAVE_EVERY_S = 1.2  # a visit saves one drawing a second at most (counted from the last acknowledgement)
DRAWING_S = 1.5  # a person's time to draw a digit, after the last one was labelled
WAIT_S = 20  # the longest any step may take before a test says so


def unique(value, visitor, round_, asked, visit=0):
    """The pen digit moved by a few canvas units, so that every drawing of the run is its own (and can
    be found in the store), rounded as the pad rounds: the visitor (0-19) sets the shift across, the
    drawing (asked 1-10 of round 0-2, in the visitor's visit 0-5, its page loads) the shift down."""
    dx, dy = visitor * 0.7 - 7.0, 0.1 * (asked + 11 * (round_ + 3 * visit)) - 10.0
    side = value["width"]
    return {**value, "strokes": [[[round(min(side, max(0.0, x + dx)), 1), round(min(side, max(0.0, y + dy)), 1)]
                                  for x, y in stroke] for stroke in value["strokes"]]}


def key(strokes):
    return json.dumps([[[round(x, 1), round(y, 1)] for x, y in stroke] for stroke in strokes])


class Lost(Exception):
    """The server holding the visit stopped: (what the visitor was told, when the drawing or label that
    met it was sent[, when the visitor was told])."""


class Run:
    """What the visitors share: the address, the digits, and when which replica was killed."""

    def __init__(self, url, pen_values):
        self.url, self.pen_values = url, pen_values
        self.killed = self.dead = None


class Visitor:
    """A visit's rounds: what was acknowledged, how long answers took, how soon a lost server was told."""

    def __init__(self, number, run):
        self.number, self.run = number, run
        self.acknowledged = []  # (stroke key or None, replica, page load)
        self.labelled = []  # stroke key of every drawing sent to be saved, acknowledged or not
        self.answers = []  # (seconds from sending a drawing to its answer, replica, after the kill)
        self.told = []  # seconds from a drawing (or label) to being told the server stopped
        self.rounds, self.load, self.last_save, self.replica = 0, -1, 0.0, None

    async def play(self, rounds):
        while self.rounds < rounds:
            try:
                await self.play_round(self.rounds)
                self.rounds += 1
            except Lost as lost:
                assert self.run.killed is not None and self.replica == self.run.dead, f"visitor {self.number}: {lost}"
                self.told.append((lost.args[2] if len(lost.args) > 2 else time.monotonic()) - lost.args[1])
                await self.open()  # a reload: a new visit, on a replica that answers

    async def play_round(self, round_):
        await self.start_round()
        for asked in range(1, 11):
            digit = await self.asked(asked)
            value = unique(self.run.pen_values[digit], self.number, round_, asked, self.load)
            await asyncio.sleep(DRAWING_S)
            sent = time.monotonic()
            await self.draw(value, sent)
            self.answers.append((time.monotonic() - sent, self.replica, self.run.killed is not None))
            await asyncio.sleep(max(0.0, SAVE_EVERY_S - (time.monotonic() - self.last_save)))
            saves = sum(load == self.load for *_, load in self.acknowledged) + 1
            self.labelled.append(self.saved_as(value))
            status = await self.label(time.monotonic())
            assert f"({saves} of yours kept)" in status, f"visitor {self.number}, drawing {asked}: {status}"
            self.last_save = time.monotonic()
            self.acknowledged.append((self.saved_as(value), self.replica, self.load))

    def saved_as(self, value):
        """The key the store's row of this drawing will have (its strokes, as the pad rounds them)."""
        return key(value["strokes"])


class HttpVisitor(Visitor):
    """Sends what the page sends: the page load (its cookie keeps the visit on its replica), the pad's
    final strokes (answered directly) and the challenge's two buttons (through Gradio's queue)."""

    async def open(self):
        import httpx

        if getattr(self, "client", None):
            await self.client.aclose()
        self.client = httpx.AsyncClient(base_url=self.run.url, timeout=WAIT_S)
        page = await self.client.get("/")
        assert page.status_code == 200
        self.replica = page.cookies.get("digitpad_replica", self.run.url)  # behind nginx: the replica
        config = (await self.client.get("/config")).json()
        ids = {c["props"].get("elem_id"): c["id"] for c in config["components"]}
        events = config["dependencies"]
        self.start = next((i, ids["challenge-start"]) for i, d in enumerate(events) if d["targets"] == [[ids["challenge-start"], "click"]])
        self.next = next((i, ids["challenge-next"]) for i, d in enumerate(events) if d["targets"] == [[ids["challenge-next"], "click"]])
        self.read = next(i for i, d in enumerate(events) if d["targets"] and d["targets"][0] == [ids["sketchpad"], "change"])
        self.session = uuid.uuid4().hex[:11]
        self.load += 1

    async def post(self, path, body, since):
        response = await self.client.post(path, json=body)
        if response.status_code == 502:  # nginx: the replica holding this visit is gone
            raise Lost(response.json()["error"], since)
        assert response.status_code == 200, response.text
        return response.json()

    async def queued(self, event, data, since):
        """An event through Gradio's queue, as the page sends it: join, then read the session's stream."""
        fn_index, trigger = event
        joined = await self.post("/gradio_api/queue/join", {"data": data, "fn_index": fn_index, "trigger_id": trigger,
                                                            "session_hash": self.session, "event_data": None}, since)
        import httpx

        try:
            async with self.client.stream("GET", "/gradio_api/queue/data", params={"session_hash": self.session}) as stream:
                if stream.status_code == 502:
                    raise Lost(json.loads(await stream.aread())["error"], since)
                async for line in stream.aiter_lines():
                    if line.startswith("data:"):
                        message = json.loads(line[5:])
                        if message.get("event_id") == joined["event_id"] and message["msg"] == "process_completed":
                            assert message["success"], message
                            return message["output"]["data"]
        except httpx.RemoteProtocolError:  # cut off mid-stream
            pass
        return None  # the stream ended without the answer: the server went while answering

    async def start_round(self):
        outputs = await self.queued(self.start, [None], time.monotonic())
        if outputs is None:  # no answer: the visitor draws, and is told
            assert self.run.killed is not None, f"visitor {self.number}: a round's start was never answered"
            await self.draw(unique(self.run.pen_values[1], self.number, 9, 9), time.monotonic())
        self.prompt = outputs[1]

    async def asked(self, asked):
        assert f"({asked} of 10)" in self.prompt, self.prompt
        return int(re.search(r"Draw a (?:<b>)?(\d)", self.prompt).group(1))

    async def draw(self, value, since):
        body = {"data": [value, "cnn_batchnorm", None, None], "fn_index": self.read, "session_hash": self.session}
        answer = await self.post("/gradio_api/run/predict", body, since)
        assert any("verdict" in str(part) for part in answer["data"]), answer

    async def label(self, since):
        outputs = await self.queued(self.next, [None, None, True, "cnn_batchnorm"], since)
        if outputs is None:  # no answer: the visitor draws again, and is told
            assert self.run.killed is not None, f"visitor {self.number}: a label was never answered"
            await self.draw(unique(self.run.pen_values[1], self.number, 9, 9), time.monotonic())
        self.prompt = outputs[1]
        return outputs[4]
