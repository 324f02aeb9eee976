"""The page's handlers, and the `predict` endpoint through gradio_client against the app on localhost."""

import base64
import io
import re

import gradio as gr
import numpy as np
import pytest
from PIL import Image

from digitpad import drawn, plots, ui
from digitpad.catalog import MODEL_NAMES
from digitpad.inference import Prediction
from digitpad.ui import DigitPad
from digitpad.views import agreement
from tests.conftest import ROOT, run


@pytest.fixture(scope="module")
def app():
    return DigitPad(ROOT / "weights")


def read(app, *args):
    """The pad's handler (a coroutine, answered on the server's event loop) run to its answer."""
    return run(app.read(*args))


def sketch_value(image):
    """What gr.Sketchpad hands the handler: background, layers and their composite."""
    return {"background": None, "layers": [image], "composite": image}


def test_handler_returns_all_five_panels(app, digits):
    outputs = app.predict(sketch_value(np.asarray(drawn.draw(digits[6], brush=10, height=0.5))))
    panels, verdict = outputs[:5], outputs[5]
    assert len(outputs) == 6
    for panel in panels:
        assert set(panel) == {str(d) for d in range(10)} and abs(sum(panel.values()) - 1) < 1e-3
    assert max(panels[-1], key=panels[-1].get) == "6"
    assert "verdict" in verdict


def test_empty_canvas_says_draw_a_digit(app):
    outputs = app.predict(sketch_value(np.zeros((800, 800, 4), np.uint8)))
    assert outputs[:5] == (None,) * 5 and "Draw a digit" in outputs[5]
    assert "Draw a digit" in app.predict(None)[5]


def test_one_reading_of_the_pads_strokes_updates_every_view(app, pen_values):
    reading, *panels, verdict, compact, seen, inside, correction = read(app, pen_values[9], "cnn_batchnorm", None)
    assert set(reading.prediction.layers) == set(MODEL_NAMES)  # kept for the other models' views
    assert reading.drawing is pen_values[9] and correction is None  # a new drawing, not labelled yet
    assert panels[4]["label"] == "9" and "<b>9</b>" in verdict
    assert [c["label"] for c in panels[4]["confidences"]][0] == "9" and len(panels[4]["confidences"]) == 10
    points = sum(len(stroke) for stroke in pen_values[9]["strokes"])
    assert "All five: <b>9</b>" in compact or "Mostly <b>9</b>" in compact  # the phone's answer line
    assert all(f"{name} <b>" in compact for name in ("Perceptron", "MLP", "MLP+drop", "CNN", "CNN+BN"))
    for view in (verdict, compact, seen):  # each says which drawing it shows
        assert view.startswith(f"<div class='drawing' data-points='{points}'>")
    assert inside.count(f"<div class='drawing' data-points='{points}'>") == 2  # its pictures and its saliency
    pictures, saliency = inside.split("<div id='saliency'>")
    # Every picture is inlined: nothing for the browser to fetch after the response.
    assert seen.count("src='data:image/png;base64,") == 1 and "What the models see (28x28)</figcaption>" in seen
    assert pictures.count("src='data:image/png;base64,") == 12  # 12 kernels, and the 12 feature maps ...
    assert pictures.count("--tiles:url('data:image/png;base64,") == 1  # ... as one picture
    assert "pushed it toward 9" in saliency and "src='data:image/png" in saliency


def test_while_the_pen_moves_the_layers_wait_for_it_to_lift(app, pen_values):
    live = {**pen_values[3], "live": True}
    reading, *panels, verdict, compact, seen, inside, correction = read(app, live, "cnn_batchnorm", None)
    assert panels[4]["label"] == "3" and "data-points" in seen
    assert inside == gr.skip()


def test_the_lifted_pens_strokes_are_read_from_the_events_data_as_the_page_sends_them(app, pen_values):
    """The page's pad sends the strokes as the change event's data and leaves its value empty; an API
    caller sends them as the value, without event data."""
    from types import SimpleNamespace

    from digitpad.pad import EMPTY

    sent = SimpleNamespace(_data=pen_values[3])
    *_, verdict, compact, seen, inside, _ = read(app, EMPTY, "cnn_batchnorm", None, None, None, sent)
    points = sum(len(stroke) for stroke in pen_values[3]["strokes"])
    assert f"data-points='{points}'" in seen and f"data-points='{points}'" in inside
    assert read(app, pen_values[3], "cnn_batchnorm", None, None, None, SimpleNamespace(_data=None))[5]["label"] == "3"
    assert "Draw a digit" in read(app, EMPTY, "cnn_batchnorm", None, None, None, SimpleNamespace(_data=None))[6]


def test_a_live_drawing_sent_before_the_last_lift_changes_nothing(app, pen_values):
    """The pen's live and final drawings are two events of the page, and the page holds back a live
    drawing while another is in flight: it may arrive after the final one. Older by the pad's `seq`, it
    is answered with nothing to change (it would put part of the drawing back on every view); a new
    stroke's live drawing (a later `seq`) is read, and so is anything without a `seq` (the API)."""
    from types import SimpleNamespace

    visit = SimpleNamespace(session_hash="lifted-visit")
    final = {**pen_values[3], "seq": 5}
    partial = {**final, "strokes": [final["strokes"][0][: len(final["strokes"][0]) // 2]], "live": True, "seq": 4}
    more = {**final, "strokes": final["strokes"] + [[[20, 20], [40, 40]]], "live": True, "seq": 6}
    assert read(app, final, "cnn_batchnorm", None, None, visit)[5]["label"] == "3"
    assert read(app, partial, "cnn_batchnorm", None, None, visit) == (gr.skip(),) * 11
    assert "data-points" in read(app, more, "cnn_batchnorm", None, None, visit)[6]
    assert "data-points" in read(app, {**partial, "seq": None}, "cnn_batchnorm", None, None, visit)[6]
    assert "data-points" in read(app, partial, "cnn_batchnorm", None, None, SimpleNamespace(session_hash="another"))[6]


def test_a_drawing_of_too_many_strokes_is_answered_at_the_door_as_the_handler_answers_it(app, pen_values):
    """`serving.BodyLimit` answers such a body with `ui.refuse_strokes` before Gradio parses it: the same
    views as `DigitPad.read` gives it, for the lifted pen's event and the moving pen's."""
    import json

    many = {"strokes": [[[1, 1]]] * 10_000, "width": 280, "height": 280}
    *views, _ = read(app, many, "cnn_batchnorm", None)[1:]  # the handler's views (the correction's reset last)
    lifted = json.loads(ui.refuse_strokes(json.dumps({"data": [many, "cnn_batchnorm", None, None],
                                                      "event_data": None}).encode()))["data"]
    assert lifted[1:-1] == views and lifted[0] is None and lifted[-1] is None
    assert "at most 200" in lifted[6]
    moving = json.loads(ui.refuse_strokes(json.dumps({"data": ["cnn_batchnorm", None, None],
                                                      "event_data": {**many, "live": True}}).encode()))["data"]
    assert moving[1:-1] == views[:-1]  # no "Inside a model": not an output of the moving pen's event
    # Anything else is Gradio's to answer: within the limit, or not the pad's request.
    assert ui.refuse_strokes(json.dumps({"data": [pen_values[3], "cnn", None, None]}).encode()) is None
    assert ui.refuse_strokes(b"]]" * 300) is None and ui.refuse_strokes(b"[1, 2]") is None


def test_a_live_drawing_superseded_by_the_lift_shows_the_final_drawing(app, pen_values, monkeypatch):
    """A live drawing still waiting when the pen lifts gives way to the final one, whose views answer it
    too: no view is left unchanged (each would cost Gradio a component made for it), they show the final
    drawing, and the session's Reading is left for the final request's own answer to set."""
    import asyncio
    from types import SimpleNamespace

    from digitpad import preprocess, views
    from digitpad.serving import Job, Superseded

    final = {**pen_values[3], "seq": 11}
    live = {**final, "strokes": [final["strokes"][0][: len(final["strokes"][0]) // 2]], "live": True, "seq": 10}
    points = views.point_count(final)
    reader = app.reader.read

    async def superseded(*args, **kwargs):
        future = asyncio.get_running_loop().create_future()
        future.set_result(await reader(preprocess.check_strokes(final), MODEL_NAMES, None, points, False,
                                       (points, ("cnn_batchnorm", None))))
        raise Superseded(Job(None, MODEL_NAMES, (points, ("cnn_batchnorm", None)), future))

    monkeypatch.setattr(app.reader, "read", superseded)
    reading, *answer = read(app, live, "cnn_batchnorm", None, None, SimpleNamespace(session_hash="superseded"))
    assert reading == gr.skip() and gr.skip() not in answer[:8]
    panels, verdict = answer[:5], answer[5]
    assert panels[4]["label"] == "3" and f"data-points='{points}'" in verdict


def test_the_pens_moving_strokes_arrive_as_the_input_events_data(app, pen_values):
    """While the pen moves the pad sends its strokes as its input event's data (not its value); the
    answer updates every view but "Inside a model", in the order of `ui.LIVE_UNCHANGED`'s outputs."""
    live = {**pen_values[3], "live": True}
    answer = run(app.read_live("cnn_batchnorm", None, None, gr.EventData(None, live)))
    assert len(answer) == len(ui.LIVE_UNCHANGED["data"])
    reading, *panels, verdict, compact, seen, correction = answer
    assert panels[4]["label"] == "3" and "data-points" in seen and "data-points" in verdict


def test_a_label_pressed_before_the_final_drawing_is_read_asks_to_press_again(app, pen_values):
    """Done or a correction pressed within a round trip of the lift finds the last live reading (the
    final drawing still on its way): refused with an error, so that nothing is scored or saved and the
    page keeps the drawing; once the final reading is there, the label counts."""
    session = app.start_round(None)[0]
    wanted = session.wanted
    live = read(app, {**pen_values[wanted], "live": True}, "cnn_batchnorm", None)[0]
    for press in (lambda: app.answer(session, live, True), lambda: app.correct(session, live, str(wanted), True)):
        with pytest.raises(gr.Error, match="Still reading your drawing"):
            press()
    assert session.asked == 0 and session.score()[0] == 0
    final = read(app, pen_values[wanted], "cnn_batchnorm", None)[0]
    assert app.answer(session, final, False)[0].asked == 1


def test_the_door_answers_a_live_drawing_as_the_live_event_does(app, pen_values):
    """`DigitPad.answer_live` (the live drawing's answer at the door, `serving.LiveDoor`) gives the views
    `read_live` gives Gradio for the same drawing, the session's Reading left as it is (null)."""
    live = {**pen_values[7], "live": True}
    at_door = run(app.answer_live({"event_data": live, "session_hash": "door-visit"}))
    assert at_door == ui.event_answer([None, *run(app.read_live("cnn_batchnorm", None, None, gr.EventData(None, live)))[1:]])
    assert at_door["data"][5]["label"] == "7" and len(at_door["data"]) == len(ui.LIVE_UNCHANGED["data"])


def test_a_label_pressed_while_the_next_drawing_is_on_its_way_is_refused(app, pen_values):
    """With the live drawings answered at the door the session's Reading is the last final drawing's: a
    label pressed after a newer drawing went out (its live answers in, the final one still on its way)
    would label the drawing before. Refused by the pad's order (`seq`), as a live Reading is."""
    from types import SimpleNamespace

    visit = SimpleNamespace(session_hash="label-order")
    session = app.start_round(None)[0]
    wanted = session.wanted
    before = read(app, {**pen_values[wanted], "seq": 1}, "cnn_batchnorm", None, session, visit)[0]
    run(app.answer_live({"event_data": {**pen_values[wanted], "live": True, "seq": 2}, "session_hash": "label-order"}))
    for press in (lambda: app.answer(session, before, True, request=visit),
                  lambda: app.correct(session, before, str(wanted), True, request=visit)):
        with pytest.raises(gr.Error, match="Still reading your drawing"):
            press()
    assert session.asked == 0
    final = read(app, {**pen_values[wanted], "seq": 3}, "cnn_batchnorm", None, session, visit)[0]
    assert app.answer(session, final, False, request=visit)[0].asked == 1


def test_the_door_answers_with_the_visitors_adaptation(app, pen_values):
    """A visitor's adapted models answer their live drawings at the door too: the session a final drawing
    came with is found by the visit's session hash."""
    from types import SimpleNamespace

    from digitpad.challenge import Session

    session, visit = Session(), SimpleNamespace(session_hash="door-adapted")
    for digit, value in pen_values.items():  # a round's worth of labels, then the adaptation
        reading = read(app, value, "cnn_batchnorm", None, session, visit)[0]
        session.label(reading.id, reading.prediction, digit)
    app._adapt(session)
    assert app.refits.wait(session, timeout=30)  # refitted on the refits' thread
    session.adapt_on = True
    assert session.adapting
    final = read(app, pen_values[4], "cnn_batchnorm", None, session, visit)
    at_door = run(app.answer_live({"event_data": {**pen_values[4], "live": True}, "session_hash": "door-adapted"}))
    assert at_door["data"][1:8] == list(final[1:8])  # the adapted panels, verdict and compact line
    assert "Adapted to your 10 labelled drawings" in at_door["data"][6]
    unknown = run(app.answer_live({"event_data": {**pen_values[4], "live": True}, "session_hash": "someone-else"}))
    assert unknown["data"][1:8] == list(read(app, pen_values[4], "cnn_batchnorm", None)[1:8])


def test_the_pictures_decode_to_what_the_models_saw(app, pen_values):
    reading, *_, seen, _, _ = read(app, pen_values[4], "cnn", None)
    image = np.asarray(decoded(re.search(r"(data:image/png;base64,[^']+)'", seen).group(1)))
    assert image.shape == (28, 28)
    assert np.abs(image / 255 - reading.prediction.image).max() < 0.01


@pytest.mark.parametrize("key", MODEL_NAMES)
def test_inspect_every_model_and_layer_from_the_kept_prediction(app, pen_values, key, monkeypatch):
    reading = read(app, pen_values[9], "cnn_batchnorm", None)[0]
    # Inspecting reads no drawing: the kept Prediction is all it needs.
    monkeypatch.setattr(app.predictor, "predict", lambda *args, **kwargs: pytest.fail("read the drawing again"))
    for layer in app.predictor.layer_names[key]:
        note, rest = app.inspect(reading, key, layer).split("</p>", 1)
        pictures, saliency = rest.split("<div id='saliency'>")
        assert pictures.count("<figure") >= 10
        assert ("No convolution" in note) == (key not in ("cnn", "cnn_batchnorm"))
        assert "Saliency" in saliency
    conv = app.inspect(reading, "cnn", app.predictor.layer_names["cnn"][0]).split("<div id='saliency'>")[0]
    assert conv.count("<figure") == 12 and "kernel | max" in conv  # each map by its kernel
    assert conv.count("<img") == 12 and conv.count("class='pixels tile'") == 12  # 12 kernels, 12 tiles of ...
    assert conv.count("--tiles:url('data:image/png;base64,") == 1  # ... one picture of the 12 maps


def test_each_feature_maps_tile_is_that_map(app, pen_values):
    """The maps of a layer go out as one picture, side by side: tile f shows filter f's map, as its own
    picture would."""
    reading = read(app, pen_values[3], "cnn", None)[0]
    name, values = reading.prediction.layers["cnn"][0]
    html = app.inspect(reading, "cnn", name)
    def rgb(uri):
        return np.asarray(decoded(uri).convert("RGB"))

    strip = rgb(html.split("--tiles:url('", 1)[1].split("'", 1)[0])
    side, top = values.shape[0], float(values.max())
    assert strip.shape == (side, side * values.shape[-1], 3)
    positions = re.findall(r"background-position:-(\d+)px 0", html)
    for f in range(values.shape[-1]):
        assert int(positions[f]) == f * 84  # the figure's 84 px show the f-th tile
        np.testing.assert_array_equal(strip[:, f * side:(f + 1) * side], rgb(plots.activation(values[..., f], top)))


def decoded(uri):
    """The PIL image of a data: URI's PNG."""
    return Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))


def test_inspect_stamps_the_drawing_it_shows_and_keeps_the_view_before_any(app, pen_values):
    reading = read(app, pen_values[3], "cnn", None)[0]
    points = sum(len(stroke) for stroke in pen_values[3]["strokes"])
    inside = app.inspect(reading, "cnn", app.predictor.layer_names["cnn"][0])
    assert inside.count(f"data-points='{points}'") == 2  # activations and saliency, as the drawing's answer
    # The page's load sets the layer; its answer may come after a first drawing's, which it must not wipe.
    assert isinstance(app.inspect(None, "cnn", None), type(gr.skip()))


def test_inspect_a_drawing_read_while_the_pen_moved_reads_its_layers(app, pen_values):
    live = {**pen_values[5], "live": True}
    reading = read(app, live, "cnn", None)[0]  # kept without layers: the lifted pen's answer usually replaces it
    assert reading.prediction.layers == {}
    inside = app.inspect(reading, "cnn", app.predictor.layer_names["cnn"][0])
    assert inside.count("<img") == 13 and inside.count("pixels tile") == 12  # 12 kernels and maps, ...
    assert "Saliency" in inside  # ... the saliency


def test_select_model_highlights_one_panel_and_lists_its_layers(app):
    outputs = app.select_model("cnn")
    classes = [panel.elem_classes for panel in outputs[:5]]
    assert classes[3] == ["panel", "selected"] and all("selected" not in c for i, c in enumerate(classes) if i != 3)
    picker = outputs[5]
    assert [value for _, value in picker.choices] == app.predictor.layer_names["cnn"] and len(picker.choices) == 3
    assert picker.value == picker.choices[0][1]


def probabilities(*tops, confidence=0.95):
    return {key: np.eye(10)[top] * confidence + (1 - confidence) / 10 for key, top in zip(MODEL_NAMES, tops)}


def test_agreement_state():
    image = np.zeros((28, 28), np.float32)
    assert agreement(Prediction(image, probabilities(4, 4, 4, 4, 4)))[0] == "agree"
    assert agreement(Prediction(image, probabilities(4, 4, 9, 4, 4)))[0] == "disagree"
    assert agreement(Prediction(image, probabilities(1, 2, 3, 4, 5)))[0] == "unsure"
    assert agreement(Prediction(image, probabilities(4, 4, 4, 4, 4, confidence=0.3)))[0] == "unsure"
    assert agreement(Prediction(image, message="Draw a digit"))[0] == "empty"


@pytest.mark.parametrize("key", MODEL_NAMES)
def test_test_set_views(app, key):
    import re

    confusion, curves, worst = app.select_model(key)[6:]
    for chart in (confusion, curves):  # rendered charts, inlined
        assert chart.count("src='data:image/png;base64,") == 1
    captions = re.findall(r"<figcaption>true (\d), said (\d)", worst)
    assert len(captions) == 12 and worst.count("src='data:image/png;base64,") == 12
    assert all(true != said for true, said in captions)


def test_a_correction_scores_the_drawing_and_is_kept_only_with_consent(app, pen_values):
    value = pen_values[7]
    before = app.store.count()
    reading = read(app, value, "cnn_batchnorm", None)[0]
    session, _, _, board, status, *_ = app.correct(None, reading, "1", False)  # "Wrong? It was: 1"
    assert session.score()[0] == 1 and "Not saved" in status and app.store.count() == before
    assert "0 / 1" in board  # every model said 7 to a drawing labelled 1
    reading = read(app, value, "cnn_batchnorm", None)[0]
    session, _, _, board, status, _, _, figure, *_ = app.correct(session, reading, "7", True)
    assert "Saved as a 7" in status and app.store.count() == before + 1
    assert "Drawings people labelled" in figure


def test_the_stores_figure_counts_each_save_without_reading_the_store_again(app, pen_values, monkeypatch):
    """A save adds its own drawing to the figure's tally; the whole store is read again only after
    STORE_RECOUNT_S (other replicas save too), and then agrees with the tally."""
    import re

    from digitpad import ui

    count = lambda figure: int(re.search(r"labelled: <b>([\d,]+)</b>", figure).group(1).replace(",", ""))  # noqa: E731
    app.store_summary()
    before = count(app.store_summary())
    rows = app.store.rows
    monkeypatch.setattr(app.store, "rows", lambda: pytest.fail("the store was read again on a label"))
    reading = read(app, pen_values[4], "cnn_batchnorm", None)[0]
    figure = app.correct(None, reading, "4", True)[7]
    assert count(figure) == before + 1 == app.store.count()
    monkeypatch.setattr(app.store, "rows", rows)
    monkeypatch.setattr(ui, "STORE_RECOUNT_S", -1)
    assert app.store_summary() == figure  # counted again in full: the same


def test_forget_my_saved_drawings_deletes_this_visits_only(app, pen_values):
    import time

    mine, other = None, None
    for digit in (2, 3):
        reading = read(app, pen_values[digit], "cnn_batchnorm", None)[0]
        mine = app.correct(mine, reading, str(digit), True)[0]
        time.sleep(1.05)  # one save a second
    reading = read(app, pen_values[5], "cnn_batchnorm", None)[0]
    other = app.correct(None, reading, "5", True)[0]
    before = app.store.count()
    assert "2 drawings of yours deleted" in app.forget_saved(mine)
    assert app.store.count() == before - 2 and "Nothing of yours" in app.forget_saved(mine)
    assert "1 drawing of yours deleted" in app.forget_saved(other)


def test_no_endpoint_returns_stored_drawings_or_forgets_another_visit(app):
    """Every event of the page (public or private), by its function: none reads rows of the store, and
    Forget takes only the caller's own session (a server-side State), never an id from the browser."""
    import gradio as gr

    from digitpad import ui

    demo = ui.build_demo()
    for fn in demo.fns.values():
        name = getattr(fn.fn, "__name__", "") if fn.fn else ""
        assert name not in ("rows", "export_npz", "forget"), name  # no event calls the store's readers directly
        if name == "forget_saved":
            assert [type(demo.blocks[i._id] if hasattr(i, "_id") else demo.blocks[i]) for i in fn.inputs] == [gr.State]
        outputs = [demo.blocks[o._id] if hasattr(o, "_id") else demo.blocks[o] for o in fn.outputs]
        assert not any(isinstance(o, (gr.File, gr.DownloadButton, gr.Dataframe)) for o in outputs)


def test_the_round_refuses_an_empty_pad(app):
    session = app.start_round(None)[0]
    empty = read(app, {"strokes": [], "width": 280, "height": 280}, "cnn", None)[0]
    with pytest.warns(UserWarning, match=r"Draw a \d first"):  # a warning on the page; nothing changes
        app.answer(session, empty, True)
    assert session.asked == 0 and session.in_round and session.score()[0] == 0


def test_a_round_starts_while_the_models_still_load(monkeypatch, pen_values):
    """After the server starts, its own copy of the models loads in the background (seconds): starting a
    round (and its views, the store's figure of the kept drawings among them) does not wait for it."""
    import concurrent.futures

    app = DigitPad(ROOT / "weights")
    app.store.add(pen_values[4], 4, {key: np.eye(10)[4] for key in MODEL_NAMES}, "visit-1")  # a kept drawing
    monkeypatch.setattr(app, "_loading", concurrent.futures.Future())  # still loading, for ever
    pool = concurrent.futures.ThreadPoolExecutor(1)
    started = pool.submit(app.start_round, None)
    try:
        session, prompt = started.result(timeout=5)[:2]
    finally:
        app._loading.set_result(None)  # a waiting start (the old code) ends, and so does the thread
        pool.shutdown()
    assert session.in_round and "(1 of 10)" in prompt
