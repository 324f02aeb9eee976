"""The pad's strokes read like a drawing (preprocess.read_strokes), and bad strokes refused by name."""

import asyncio
import sys

import numpy as np
import pytest
from PIL import Image, ImageDraw

from digitpad import preprocess

# Three real pen-written digits from UNIPEN (train_r01_v07, category 1a; CC BY 4.0, Guyon et al.,
# ICPR 1994), fitted to the pad's 280-unit canvas by preprocess.fit_strokes and rounded.
SEVEN = {"strokes": [[[91, 86], [89, 76], [89, 63], [100, 60], [130, 58], [170, 56], [190, 56], [186, 70],
                      [176, 100], [164, 140], [152, 180], [144, 210], [140, 224]]], "width": 280, "height": 280}


def browser_like_image(value, side=280):
    """The strokes drawn the way a browser canvas draws them (round caps and joins), independently of
    preprocess.render_strokes: a polyline of round dabs along each segment."""
    image = Image.new("L", (side, side))
    pen = ImageDraw.Draw(image)
    radius = preprocess.BRUSH * side / 2
    for stroke in value["strokes"]:
        points = np.asarray(stroke, float)
        if len(points) == 1:
            points = np.repeat(points, 2, axis=0)
        for a, b in zip(points[:-1], points[1:]):
            for t in np.linspace(0, 1, max(2, int(np.hypot(*(b - a))) + 1)):
                x, y = a + t * (b - a)
                pen.ellipse((x - radius, y - radius, x + radius, y + radius), fill=255)
    return np.asarray(image)


def test_strokes_and_their_canvas_image_read_to_the_same_28x28():
    from_strokes = preprocess.read_strokes(SEVEN).image
    from_image = preprocess.to_mnist(browser_like_image(SEVEN))
    assert from_strokes.max() > 0.9
    assert np.abs(from_strokes - from_image).mean() < 0.02


def test_strokes_are_read_bit_for_bit_as_their_rendered_canvas_would_be(pen_digits):
    """read_strokes reads the strokes' ink without rendering the canvas; it must give exactly what
    reading the rendered canvas gives (the weights were trained and measured on that), for the
    fixture's pen digits and for random strokes on canvases of every shape the pad allows."""
    from digitpad import unipen

    values = [unipen.pad_value(s) for s in pen_digits.strokes[::6]]
    rng = np.random.default_rng(0)
    for _ in range(150):
        width, height = (float(rng.choice([9, 100, 280, 333, 561, 4096])) for _ in range(2))
        values.append({"strokes": [np.c_[rng.uniform(0, width, n), rng.uniform(0, height, n)].tolist()
                                   for n in rng.integers(1, 12, rng.integers(1, 4))],
                       "width": width, "height": height})
    compared = 0
    for value in values:
        canvas = preprocess.render_strokes(preprocess.check_strokes(value))
        if min(canvas.shape) < preprocess.MIN_SIDE or np.median(canvas[::4, ::4]) > 0:
            continue  # the canvas image is not readable as one, or mostly ink: read as an image, its
            # background would be taken for ink; the strokes themselves are always the ink
        expected, read = preprocess.read_drawing(canvas), preprocess.read_strokes(value)
        assert np.array_equal(read.image, expected.image) and read.extent == expected.extent
        compared += 1
    assert compared > 100


def test_distance_to_ink_is_scipys_exact_euclidean_transform():
    from scipy import ndimage

    rng = np.random.default_rng(0)
    for shape, share in [((40, 60), 0.01), ((97, 13), 0.1), ((200, 150), 0.002), ((8, 8), 0.5)]:
        background = rng.random(shape) > share
        background[rng.integers(shape[0]), rng.integers(shape[1])] = False
        assert np.array_equal(preprocess.distance_to_ink(background), ndimage.distance_transform_edt(background))


def test_read_dispatches_strokes_and_images_alike():
    assert np.array_equal(preprocess.read(SEVEN).image, preprocess.read_strokes(SEVEN).image)
    assert preprocess.read({"strokes": [], "width": 280, "height": 280}).empty


def test_fit_strokes_puts_tablet_strokes_on_the_pad():
    tablet = [np.array([[6309.0, -10748.0], [6400.0, -10600.0], [6578.0, -10517.0]])]
    value = preprocess.fit_strokes(tablet)
    points = np.concatenate([np.asarray(s) for s in value["strokes"]])
    assert points.min() >= 0 and points.max() <= 280
    assert abs(np.ptp(points, axis=0).max() - 0.6 * 280) < 1


@pytest.mark.parametrize("value, says", [
    (7, "Expected the pad's strokes"),
    ({"strokes": "x"}, "Expected the pad's strokes"),
    ({"strokes": [[["a", "b"]]]}, "two numbers"),
    ({"strokes": [[[1, [1]]]]}, "two numbers"),
    ({"strokes": [[[float("nan"), 1.0]]]}, "NaN"),
    ({"strokes": [[[-5, 1]]]}, "outside the 280x280 canvas"),
    ({"strokes": [[[1e9, 1]]]}, "outside the 280x280 canvas"),
    ({"strokes": [[[1, 1]] * 1000] * 1000}, "at most 200"),
    ({"strokes": [[[1, 1]]] * 10_000}, "at most 200"),
    ({"strokes": [[[1, 1]] * 10**6]}, "at most 5,000"),
    ({"strokes": [[[0, 0], [280, 280]] * 400]}, "at most 100"),
    ({"strokes": [], "width": 10**6, "height": 10}, "4096x4096"),
])
def test_bad_strokes_are_refused_naming_the_limit(value, says):
    with pytest.raises(preprocess.DrawingError, match=says):
        preprocess.read_strokes(value)


def test_real_pen_strokes_from_unipen_read_like_their_image():
    """Every 500th UNIPEN digit (../shared/data/unipen.npz; skipped where it is absent)."""
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "unipen.npz"
    if not path.exists():
        pytest.skip(f"no {path}")
    with np.load(path) as data:
        points, starts, digits = data["points"], data["stroke_starts"], data["digit_strokes"]
    for i in range(0, len(digits) - 1, 500):
        value = preprocess.fit_strokes([points[starts[k]:starts[k + 1]] for k in range(digits[i], digits[i + 1])])
        assert np.abs(preprocess.read_strokes(value).image - preprocess.to_mnist(browser_like_image(value))).mean() < 0.03


class GatedReader:
    """A batch reader whose work waits for a gate: what waits, and in which order it is read."""

    def __init__(self, **bounds):
        from digitpad.serving import BatchReader

        self.gate, self.batches = asyncio.Event(), []
        self.reader = BatchReader(self.read_batch, **bounds)

    async def read_batch(self, drawings, layers_of, shown):
        await self.gate.wait()
        self.batches.append(list(drawings))
        return [f"read {drawing}" for drawing in drawings]


def test_reader_refuses_a_second_drawing_of_the_same_visitor_and_beyond_the_waiting_bound():
    from digitpad.serving import Busy

    async def visit():
        gated = GatedReader(max_waiting=1)
        first = asyncio.ensure_future(gated.reader.read("first", visitor="a"))  # taken, held at the gate
        await asyncio.sleep(0.01)
        with pytest.raises(Busy, match="One drawing at a time"):
            await gated.reader.read("again", visitor="a")
        waiting = asyncio.ensure_future(gated.reader.read("b's", visitor="b"))  # waits: the bound is one
        await asyncio.sleep(0.01)
        with pytest.raises(Busy, match="busy reading other drawings"):
            await gated.reader.read("c's", visitor="c")
        gated.gate.set()
        assert await first == "read first" and await waiting == "read b's"
        assert await gated.reader.read("next", visitor="a") == "read next"  # released: a may read again

    asyncio.run(visit())


def test_a_lifted_pen_supersedes_the_visitors_live_drawing_still_waiting_and_follows_one_being_read():
    """The pen's live and final drawings are two events of the page, so both may be in flight: the
    final one is never refused for the live one; a live one still waiting gives way to it (nothing to
    show: the final answers), and one already being read is answered first (its answer never lands
    after the final one's)."""
    from digitpad.serving import Superseded

    async def visit():
        gated = GatedReader(max_waiting=8)
        other = asyncio.ensure_future(gated.reader.read("b's", visitor="b"))  # held at the gate
        await asyncio.sleep(0.01)
        live = asyncio.ensure_future(gated.reader.read("a live", visitor="a", live=True))  # waits
        await asyncio.sleep(0.01)
        final = asyncio.ensure_future(gated.reader.read("a final", visitor="a"))
        await asyncio.sleep(0.01)
        with pytest.raises(Superseded):
            await live
        gated.gate.set()
        assert await final == "read a final" and await other == "read b's"
        assert gated.batches == [["b's"], ["a final"]]
        gated.gate.clear()
        gated.batches.clear()
        live = asyncio.ensure_future(gated.reader.read("a live 2", visitor="a", live=True))  # taken, at the gate
        await asyncio.sleep(0.01)
        final = asyncio.ensure_future(gated.reader.read("a final 2", visitor="a"))
        order = []
        for task, name in ((live, "live"), (final, "final")):
            task.add_done_callback(lambda _, name=name: order.append(name))
        await asyncio.sleep(0.01)
        gated.gate.set()
        assert await live == "read a live 2" and await final == "read a final 2"
        await asyncio.sleep(0)  # the done callbacks run
        assert order == ["live", "final"]

    asyncio.run(visit())


def test_reader_batches_what_waits_final_drawings_first_then_the_cheapest_within_a_points_budget():
    async def visit():
        gated = GatedReader(max_waiting=8, max_batch=3, max_points=2_000)
        first = asyncio.ensure_future(gated.reader.read("first"))
        await asyncio.sleep(0.01)  # the reader holds "first" at the gate; the rest wait
        waiting = [asyncio.ensure_future(gated.reader.read(name, cost=cost, live=live)) for name, cost, live in
                   [("live big", 900, True), ("live small", 10, True), ("final huge", 19_000, False),
                    ("final honest", 120, False), ("live middle", 300, True)]]
        await asyncio.sleep(0.01)
        gated.gate.set()
        assert (await asyncio.gather(first, *waiting))[1] == "read live big"
        return gated.batches

    # A huge drawing (more points than a batch holds) is read alone: a digit never waits behind it.
    # (The reader here holds 2,000 points a batch.)
    assert asyncio.run(visit()) == [["first"], ["final honest"], ["final huge"], ["live small", "live middle", "live big"]]


def test_reader_tells_every_waiting_visitor_when_the_work_fails():
    from digitpad.serving import BatchReader

    async def broken(drawings, layers_of, shown):
        raise RuntimeError("the models could not load")

    with pytest.raises(RuntimeError, match="could not load"):
        asyncio.run(BatchReader(broken).read("a drawing"))


def gated_app(gate, record):
    """An ASGI app that stands for Gradio: reads each request's body, `record(scope, body)`, and holds
    its answer ("read") until the gate opens."""
    async def app(scope, receive, send):
        body, more = b"", True
        while more:
            message = await receive()
            body, more = body + message["body"], message["more_body"]
        record(scope, body)
        await gate.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"read"})
    return app


def posted(middleware, body):
    """(its task, the messages it sends): `body` posted to the ASGI `middleware` as the pad's request, in two chunks."""
    answer = []
    scope = {"type": "http", "method": "POST", "path": "/gradio_api/run/predict", "headers": []}
    chunks = [{"type": "http.request", "body": body[:10], "more_body": True},
              {"type": "http.request", "body": body[10:], "more_body": False}]

    async def receive():
        return chunks.pop(0)

    async def send(message):
        answer.append(message)
    return asyncio.ensure_future(middleware(scope, receive, send)), answer


def test_under_load_a_live_drawing_is_answered_at_the_door_and_a_final_one_never_is():
    """`serving.LiveDoor`: below its bound every drawing reaches the app (the body intact); at it, a
    live drawing (the pen moving: "live" in the event's data) is answered with the unchanged answer
    without reaching the app, and a final one (the strokes as the pad's value) still reaches it."""
    import json

    from digitpad.serving import LiveDoor

    seen, gate = [], asyncio.Event()
    app = gated_app(gate, lambda scope, body: seen.append(body))

    live = json.dumps({"data": [], "event_data": {"strokes": [], "live": True}, "fn_index": 1}).encode()
    final = json.dumps({"data": [{"strokes": [], "live": False}], "fn_index": 0}).encode()

    async def visit():
        shedding = LiveDoor(app, unchanged={"data": [None, {"__type__": "update"}]}, at=2)
        first, _ = posted(shedding, live)
        second, _ = posted(shedding, final)
        await asyncio.sleep(0.01)
        assert seen == [live, final]  # below the bound: both in, bodies whole
        shed, shed_answer = posted(shedding, live)
        await shed
        assert shed_answer[1]["body"] == b'{"data":[null,{"__type__":"update"}]}' and len(seen) == 2
        third, third_answer = posted(shedding, final)
        await asyncio.sleep(0.01)
        assert seen[-1] == final  # a lifted pen's drawing is never shed
        gate.set()
        await asyncio.gather(first, second, third)
        assert third_answer[1]["body"] == b"read" and shedding.in_progress == 0

    asyncio.run(visit())


def test_a_live_drawing_is_answered_at_the_door_and_everything_else_reaches_the_app():
    """`serving.LiveDoor` below its bound: a live drawing (the pen moving) is answered by its `answer`, given the parsed
    request, without reaching the app; a final one, and a live one whose answer fails unexpectedly, reach
    the app with their bodies intact."""
    import json

    from digitpad.serving import LiveDoor

    seen, gate = [], asyncio.Event()
    gate.set()
    app = gated_app(gate, lambda scope, body: seen.append(body))
    asked = []

    async def answer(scope, request):
        asked.append(request)
        if request["event_data"]["strokes"] == "fails":
            raise RuntimeError("a bug")
        return {"data": [None, len(request["event_data"]["strokes"])]}

    async def post(body):
        handled, sent = posted(LiveDoor(app, unchanged={}, answer=answer), body)
        await handled
        return sent[1]["body"]

    live = json.dumps({"data": [], "event_data": {"strokes": [[[1, 2]]], "live": True}, "session_hash": "v"}).encode()
    final = json.dumps({"data": [], "event_data": {"strokes": [[[1, 2]]], "live": False}}).encode()
    failing = json.dumps({"data": [], "event_data": {"strokes": "fails", "live": True}}).encode()
    assert asyncio.run(post(live)) == b'{"data":[null,1]}' and asked[0]["session_hash"] == "v" and seen == []
    assert asyncio.run(post(final)) == b"read" and seen == [final] and len(asked) == 1
    assert asyncio.run(post(failing)) == b"read" and seen == [final, failing] and len(asked) == 2


def test_the_more_live_drawings_are_shed_the_longer_their_answers_are_held():
    """`LiveDoor.hold`: nothing shed, no hold; a shed answer is held by the square of the share of
    the recent requests shed (pacing the pad's next live request; a little shedding holds little),
    never longer than `max_hold`, and the hold fades once requests pass again."""
    from digitpad.serving import SHED_MEMORY, LiveDoor

    shedding = LiveDoor(None, unchanged={}, max_hold=0.4)
    assert shedding.hold() == 0.0
    holds = []
    for _ in range(4 * SHED_MEMORY):
        shedding.count_request(True)
        holds.append(shedding.hold())
    assert holds == sorted(holds) and 0.35 < holds[-1] <= 0.4 and holds[SHED_MEMORY // 8] < 0.05
    for _ in range(4 * SHED_MEMORY):
        shedding.count_request(False)
    assert shedding.hold() < 0.01


def test_a_body_of_too_many_strokes_is_answered_at_the_door_while_large_drawings_hold_the_places():
    """`serving.BodyLimit`: large bodies go in LARGE_AT_ONCE at a time; one whose strokes (counted in its
    JSON) are more than are read waits for a place of its own, so that a flood of large drawings does not
    hold up its refusal, and the pad's is answered there by `refuse_strokes` without reaching the app."""
    import json

    from digitpad.serving import LARGE_AT_ONCE, SMALL_BODY, BodyLimit

    seen, gate = [], asyncio.Event()
    app = gated_app(gate, lambda scope, body: seen.append(scope["path"]))

    def post(limit, path, body):
        answer = []
        scope = {"type": "http", "method": "POST", "path": path, "headers": [(b"content-length", str(len(body)).encode())]}
        chunks = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive():
            return chunks.pop(0) if chunks else {"type": "http.disconnect"}

        async def send(message):
            answer.append(message)
        return asyncio.ensure_future(limit(scope, receive, send)), answer

    large = json.dumps({"data": [{"strokes": [[[1.5, 2.5]] * 2_000]}]}).encode()  # one long stroke
    many = json.dumps({"data": [{"strokes": [[[1, 1]]] * 10_000}]}).encode()
    assert len(large) > SMALL_BODY

    async def flood():
        limit = BodyLimit(app, refuse_strokes=lambda body: b'{"data": "refused"}')
        held = [post(limit, "/gradio_api/run/predict", large)[0] for _ in range(LARGE_AT_ONCE)]
        await asyncio.sleep(0.01)
        assert len(seen) == LARGE_AT_ONCE  # the places are taken
        refused, answer = post(limit, "/gradio_api/run/predict", many)
        await asyncio.wait_for(refused, 0.1)  # not after the large drawings' wait (LARGE_WAIT_S)
        assert answer[1]["body"] == b'{"data": "refused"}' and len(seen) == LARGE_AT_ONCE
        api, _ = post(limit, "/gradio_api/queue/join", many)  # not the pad's: Gradio answers it, past the flood
        await asyncio.sleep(0.01)
        assert seen[-1] == "/gradio_api/queue/join"
        gate.set()
        await asyncio.gather(*held, api)

    asyncio.run(flood())


@pytest.mark.skipif(sys.platform == "win32", reason="uvloop runs on Linux and macOS only (requirements.txt)")
def test_the_server_parses_http_in_c_on_a_libuv_loop():
    """requirements.txt installs httptools and uvloop, which uvicorn (under Gradio) picks by itself: the
    event loop every request shares then costs less per request than with h11 and asyncio's own loop
    (the README's capacity and hostile figures were measured so)."""
    import uvloop
    from uvicorn.loops.auto import auto_loop_factory
    from uvicorn.protocols.http.auto import AutoHTTPProtocol
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    assert AutoHTTPProtocol is HttpToolsProtocol
    loop = auto_loop_factory()()
    try:
        assert isinstance(loop, uvloop.Loop)
    finally:
        loop.close()
