"""The DigitPad page: draw a digit, compare the five models, look inside the one you pick."""

import asyncio
import collections
import concurrent.futures
import contextlib
import functools
import html
import itertools
import json
import os
import sys
import threading
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path

import gradio as gr
import numpy as np
from starlette.middleware import Middleware

from digitpad import adapt, pad, plots, preprocess, views, workers
from digitpad.catalog import DISPLAY_NAMES, MODEL_NAMES, WeightsError, check_weight_files
from digitpad.challenge import Session
from digitpad.drawings import DrawingStore, StoreError
from digitpad.prediction import Prediction
from digitpad.refits import Refits
from digitpad.serving import (SHED_LIVE_AT, BatchReader, BodyLimit, Busy, LiveDoor, Superseded,
                              freeze_loaded_objects)
from digitpad.sketchpad import drawing_pad
from digitpad.transfer import Transfer

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "pen_digits.json"  # real pen-written digits (digitpad.unipen)
MAX_QUEUE = 64  # requests waiting at once, all events together
LABELS_AT_ONCE = 8  # labels answered at once (threads that mostly wait for a refit, digitpad.refits)
MAX_VISITS_KEPT = 100_000  # visits whose last final drawing's number is remembered (a few MB at most)
STORE_RECOUNT_S = 300  # the store's figure counts every stored drawing again at most this often
START = "Test the models on your handwriting"  # the challenge round's button

# ---------------------------------------------------------------- the app's state and handlers


@dataclass
class Reading:
    """One drawing as read, kept in the browser session: its Prediction feeds every view, and the
    drawing itself is what a label (and, with consent, the store) refers to."""

    prediction: object  # inference.Prediction
    drawing: object = None  # the pad's strokes as drawn; None when there was nothing to read
    id: int = field(default_factory=itertools.count().__next__)  # unique in this server (a uuid4 costs a syscall)


class DigitPad:
    """The app's state (the models and their measured results) and the handlers of its events."""

    def __init__(self, weights_dir=ROOT / "weights"):
        weights_dir = Path(weights_dir)
        check_weight_files(weights_dir)  # fail fast, before the seconds TensorFlow takes to load
        # TensorFlow and the models load in the background so that the page answers meanwhile;
        # a drawing sent before they are ready waits for them.
        self._loading = concurrent.futures.ThreadPoolExecutor(1).submit(_load_predictor, weights_dir)
        self.metrics = _read_json(weights_dir / "metrics.json").get("models", {})
        self.training = _read_json(weights_dir / "training.json")
        mistakes = weights_dir / "mistakes.npz"
        self.mistakes = dict(np.load(mistakes)) if mistakes.exists() else {}
        self.insight = functools.lru_cache(maxsize=None)(self._insight)
        self._warming = None
        # Labelled drawings are kept only with consent; a store that cannot be opened turns saving
        # off (the page says why) and nothing else.
        try:
            self.store, self.store_problem = DrawingStore(), ""
        except StoreError as error:
            self.store, self.store_problem = None, str(error)
        # The owner-level figure's tally: (drawings, {model: read right}) over every stored drawing, as
        # the current models read them. Counted in full at most every STORE_RECOUNT_S (other replicas
        # save too), and a save here adds its own drawing: reading the whole store again on every
        # label made each label slower as the store grew, and a class's labels queued behind it.
        self._tally, self._tallied_at, self._tally_lock = None, 0.0, threading.Lock()
        self._finals = collections.OrderedDict()  # visit -> `seq` of its last final drawing (`_lifted`) ...
        self._drawn = collections.OrderedDict()  # ... and of its last drawing, live or final (`_check_lifted`)
        # visit -> its challenge.Session, while Gradio keeps it: the door's live answers (`answer_live`) adapt
        self._sessions = weakref.WeakValueDictionary()
        self.refits = Refits(lambda: self.predictor)  # visitors' adaptations, refitted behind their labels
        # The pad's requests skip the queue: the reader bounds the work they start, and batches it, in a
        # worker process where there is a core for it.
        self.worker = workers.WorkerReader(weights_dir) if workers.wants_worker() else None
        self.reader = (BatchReader(self.worker.read_batch, batches=4) if self.worker else
                       BatchReader(workers.LocalReader(lambda: self.predictor).read_batch))

    @property
    def predictor(self):
        try:
            return self._loading.result()
        except WeightsError as error:
            raise gr.Error(str(error)) from None

    async def read(self, strokes, key, layer_name, session=None, request: gr.Request = None,
                   event: gr.EventData = None):
        """The page's one request per drawing (on each pen lift, and every SEND_EVERY ms while the pen
        moves): strokes -> one Prediction -> every view, in one response, with every picture inlined.
        The page's pad sends the strokes as the event's data (`digitpad.pad`); a caller that sets the
        pad's value instead (the API, the benchmarks) sends them as the input `strokes`.

        Answered on the event loop, without a thread of its own: the drawing waits for the batch
        reader (`serving.BatchReader`), and the views are returned as the page's components take them
        (the event skips Gradio's pre- and postprocessing, a thread hop per component). The
        Prediction (with every model's layers) is kept in the session, so that picking another model
        or layer redraws its views from it instead of reading the strokes again.
        """
        sent = getattr(event, "_data", None)
        visitor = request.session_hash if request else None
        if visitor is not None and session is not None:  # the door's answers to their live drawings adapt too
            self._sessions[visitor] = session
        return await self._read(sent if sent is not None else strokes, key, layer_name, session, visitor)

    async def _read(self, strokes, key, layer_name, session, visitor):
        """`read`'s answer to the drawing `strokes` of `visitor` (a session hash, or None)."""
        if not (isinstance(strokes, dict) and "strokes" in strokes):
            strokes = {"strokes": None}  # not the pad's value: refused by name, as strokes
        # Each view says which drawing it shows (its number of points, as the pad counts them); the
        # same count is the drawing's cost for the reader.
        points, live = views.point_count(strokes), bool(strokes.get("live"))
        if visitor is not None and self._lifted(visitor, strokes.get("seq"), live):
            return (gr.skip(),) * 11  # a live drawing sent before the pen lifted, arriving after: the final answers
        superseded = None  # the final drawing's Job, when it answers this live one
        try:
            # Bad strokes are refused by name before they wait for the reader or allocate a pixel.
            checked = preprocess.check_strokes(strokes)
            # While the pen moves, the panels, verdict and 28x28 follow it; "Inside a model" (half the
            # work and nine tenths of the bytes) waits for the pen to lift.
            prediction, shown = await self.reader.read(
                checked, None if live else MODEL_NAMES, visitor, points, live,
                (points, None if live else (key, layer_name)))
        except preprocess.DrawingError as error:
            prediction = Prediction(np.zeros((28, 28), np.float32), message=str(error))
            shown = views.drawing_views(None, prediction, points, (key, layer_name))
        except Superseded as error:  # the pen lifted before this live drawing was read: the final drawing's
            # views answer it too (shown twice, the same). Answered with gr.skip(), each view left unchanged
            # cost Gradio a component made for it: ~3 ms a request, a tenth of the core under a class's load.
            superseded = error.final
            try:
                prediction, shown = await asyncio.shield(superseded.future)
            except Exception:  # the final drawing could not be read: its own answer says why
                return (gr.skip(),) * 11
            points = superseded.shown[0]
        except Busy as error:  # the page keeps its views; the verdict says why this drawing waits
            return (gr.skip(),) * 6 + (f"<div class='verdict unsure'>{error}</div>",) + (gr.skip(),) * 4
        *shown, inside = shown
        if session is not None and session.adapting and prediction.probabilities and not prediction.digits:
            # The visitor's own adaptation (their session only): its panels and verdict, each panel
            # saying what the model as trained reads where it differs.
            shown[:7] = views.adapted_views(prediction, session.adapted, points)
        # The session's Reading is the final drawing's own answer's to set (its strokes, not these).
        reading = gr.skip() if superseded else Reading(prediction, strokes if prediction.probabilities else None)
        return reading, *shown, gr.skip() if inside is None else inside, None

    def _lifted(self, visitor, seq, live):
        """Whether a live drawing is older than the visitor's last final one (by the pad's `seq`). The
        page holds back a live drawing while another is in flight and may send it after the pen lifted
        and the final drawing went out: answering it would put a part of the drawing back on every view."""
        if not isinstance(seq, int) or isinstance(seq, bool):
            return False  # not the page's pad (the API, a test): nothing to order
        _remember_latest(self._drawn, visitor, seq)
        if not live:
            _remember_latest(self._finals, visitor, seq)
            return False
        return seq < self._finals.get(visitor, -1)

    async def answer_live(self, request):
        """The answer to the pad's live drawing at the door (`serving.LiveDoor`; `request`: the parsed body
        of its /run/predict request), as Gradio would give `read_live`'s, without Gradio's handling. The
        session's Reading is left as it is (the door sets no state): a label pressed before the final
        drawing's answer is refused by the drawings' order (`_check_lifted`)."""
        visitor = request.get("session_hash")
        visitor = visitor if isinstance(visitor, str) else None
        _, *shown, _, correction = await self._read(request["event_data"], None, None, self._sessions.get(visitor),
                                                    visitor)
        return event_answer([None, *shown, correction])

    def _check_lifted(self, reading, request):
        """A label is for the drawing as the pen left it. Pressed within a round trip of the lift, it would
        find the last live reading, or the drawing before (the final one still on its way), which can lack
        the last points: an error, not a warning, so that the page keeps the drawing (a success clears the
        pad) for a second try."""
        drawing = reading.drawing if isinstance(reading.drawing, dict) else {}
        seq, latest = drawing.get("seq"), self._drawn.get(request.session_hash) if request else None
        if drawing.get("live") or (isinstance(seq, int) and latest is not None and latest > seq):
            raise gr.Error("Still reading your drawing: try again in a moment.", duration=4)

    async def read_live(self, key, layer_name, session=None, event: gr.EventData = None, request: gr.Request = None):
        """The pad's input event, while the pen moves: its data are the strokes so far, read as `read` reads,
        answered to every view but "Inside a model" (it waits for the lift: not an output of this event,
        since each output left unchanged costs Gradio a component made for it)."""
        *shown, _, correction = await self.read(None, key, layer_name, session, request, event)
        return *shown, correction

    def inspect(self, reading, key, layer_name):
        """"Inside a model" for the chosen model and layer, from the session's Prediction, stamped with
        its drawing as the drawing's own answer stamps it."""
        if reading is None:  # nothing read yet: the view still says "Draw a digit". (The page's load sets
            # the layer, and its answer can come after a first drawing's: the drawing's view stays.)
            return gr.skip()
        prediction = reading.prediction
        if prediction.probabilities and key not in prediction.layers:  # read while the pen moved (no layers kept),
            # and the lifted pen's answer did not replace it (refused as busy, say): read it again with them
            prediction = self.predictor.predict(reading.drawing, key)
        return views.inside(self.predictor, prediction, key, layer_name, views.point_count(reading.drawing))

    def predict(self, drawing):
        """Five probability panels and the agreement summary: the `predict` API (a sketchpad value or an
        image) and `predict_strokes` (the pad's value)."""
        prediction = self.predictor.predict(drawing)
        return *views.panels(prediction), views.agreement(prediction)[1]

    def start_round(self, session):
        """A challenge round: the ten digits in random order, a fresh round score."""
        session = session or Session()
        session.start_round()
        return self._labelled_views(session, "")

    def answer(self, session, reading, consent, key="cnn_batchnorm", request: gr.Request = None):
        """The drawing on the pad is the digit the round asked for: score it, ask for the next."""
        session = session or Session()
        if not session.in_round or reading is None or reading.drawing is None:
            gr.Warning(f"Draw a {session.wanted} first." if session.in_round else "Start a round first.")
            return (gr.skip(),) * len(self.labelled_outputs)
        self._check_lifted(reading, request)
        if reading.prediction.digits:
            gr.Warning(f"The pad holds a number: draw just a {session.wanted}.")
            return (gr.skip(),) * len(self.labelled_outputs)
        label = session.wanted
        session.answer(reading.id, reading.prediction)
        self._adapt(session)
        return self._labelled_views(session, self._save(session, reading, label, consent), key)

    def correct(self, session, reading, digit, consent, key="cnn_batchnorm", request: gr.Request = None):
        """"Wrong? It was: 3": label the drawing on the pad (again: the last label counts)."""
        session = session or Session()
        if digit is None or reading is None or reading.drawing is None:
            if digit is not None:
                gr.Warning("Draw a digit first, then say what it was.")
            return self._labelled_views(session, gr.skip(), key)
        self._check_lifted(reading, request)
        if reading.prediction.digits:
            gr.Warning("The pad holds a number: label one digit at a time.")
            return self._labelled_views(session, gr.skip(), key)
        session.label(reading.id, reading.prediction, int(digit))
        self._adapt(session)
        return self._labelled_views(session, self._save(session, reading, int(digit), consent), key)

    def _adapt(self, session):
        """Refit the visitor's adaptation to their labelled drawings (after a label, not while drawing: on the
        refits' own thread; waited for a moment when it starts at once, so that a visitor alone sees it in the
        label's answer)."""
        if self.refits.ask(session):
            self.refits.wait(session)

    def forget_saved(self, session):
        """"Forget my saved drawings": delete every drawing this visit saved, by its session id (kept on
        the server, never sent to the browser); the line the page shows."""
        if session is None or not session.saved:
            return "Nothing of yours is saved."
        if self.store is None:
            return _saving_off(self.store_problem)
        try:
            removed = self.store.forget(session.id)
        except StoreError as error:
            return f"Could not forget them now ({html.escape(str(error))}): try again in a moment."
        session.saved.clear()
        self._tally = None  # counted again in full
        return f"Forgotten: {removed} drawing{'s' * (removed != 1)} of yours deleted from the store."

    def switch_adaptation(self, session, on, key="cnn_batchnorm"):
        """The visitor's switch: answers from the adapted models, or as trained."""
        session = session or Session()
        session.adapt_on = bool(on)
        return self._labelled_views(session, gr.skip(), key)

    def forget_adaptation(self, session, key="cnn_batchnorm"):
        """Forget what the models learned of this visitor's handwriting."""
        session = session or Session()
        self.refits.forget(session)
        return self._labelled_views(session, gr.skip(), key)

    def learned_view(self, session, key):
        adapted = session.adapted if session else None
        # The models are there once an adaptation is (it was made with them); without one, a round started
        # while they still load after the server's start (3 s) does not wait for them.
        return views.learned(self.predictor if adapted is not None else None, adapted, key)

    def _save(self, session, reading, label, consent):
        """Keep a labelled drawing if the visitor agreed and the limits allow; the line the page shows."""
        if not consent:
            return "Not saved: saving is off until you tick the box."
        if self.store is None:
            return _saving_off(self.store_problem)
        allowed, reason = session.may_save(reading.id)
        if not allowed:
            return f"Not saved: {reason}."
        try:
            self.store.add(reading.drawing, label, reading.prediction.probabilities, session.id)
        except (StoreError, preprocess.DrawingError) as error:
            return _saving_off(error)
        session.saved_one(reading.id)
        with self._tally_lock:
            if self._tally is not None:
                count, right = self._tally
                read = reading.prediction.probabilities
                self._tally = (count + 1, {k: right.get(k, 0) + int(np.argmax(read[k]) == label) for k in MODEL_NAMES})
        return f"Saved as a {label} ({len(session.saved)} of yours kept). Thank you!"

    labelled_outputs = ("session", "prompt", "next", "scoreboard", "save status", "round chart", "round misses",
                        "store figure", "adapt switch", "adapt status", "learned", "start")

    def _labelled_views(self, session, status, key="cnn_batchnorm"):
        """The views every label changes (`labelled_outputs`): session, prompt, Next button, scoreboard,
        save status, the round's summary, the store's figure, the adaptation's switch, status and view, and the
        round's start button (hidden while a round is on: right under "Done" on a phone, a slip would restart it)."""
        over = session.round_over
        chart, misses = views.round_summary(session) if over else ("", "")
        # The store's figure reads the kept drawings with the models: while they still load after the server's
        # start it stays as the page's load left it, rather than hold the label up.
        store = self.store_summary() if self._loading.done() else gr.skip()
        return (session, views.prompt(session), gr.Button(visible=session.in_round), views.scoreboard(session),
                status, chart, misses, store,
                session.adapt_switched_on, views.adaptation_status(session), self.learned_view(session, key),
                gr.Button("Another round" if session.rounds_finished else START, visible=not session.in_round))

    def store_summary(self):
        """The owner-level figure: how the current models read every drawing people labelled and kept."""
        if self.store is None:
            return f"<i>{_saving_off(self.store_problem)}</i>"
        tally = self._tally  # this call's own: a Forget may reset the shared one meanwhile
        if tally is None or time.monotonic() - self._tallied_at > STORE_RECOUNT_S:
            try:
                x, y, _ = self.store.rows()
            except StoreError as error:
                return f"<i>{_saving_off(error)}</i>"
            probabilities = self.predictor.predict_batch(x / 255.0) if len(y) else {}
            tally = (len(y), {k: int((p.argmax(axis=1) == y).sum()) for k, p in probabilities.items()})
            with self._tally_lock:
                self._tally, self._tallied_at = tally, time.monotonic()
        count, right = tally
        return views.store_figure(count, {k: r / count for k, r in right.items()} if count else {})

    def _insight(self, key):
        """The chosen model's test-set views, as inline HTML (no component of their own to load, no file to
        fetch): confusion matrix, training curves, most confident mistakes."""
        result = self.metrics.get(key)
        matrix = (views.chart_html(plots.to_image(plots.confusion_figure(result["confusion"], DISPLAY_NAMES[key])),
                                   "Confusion matrix") if result else "")
        history = self.training.get(key, {}).get("history")
        curves = (views.chart_html(plots.to_image(plots.curves_figure(history, DISPLAY_NAMES[key])), "Training curves")
                  if history else "")
        parts = [self.mistakes.get(f"{key}_{part}", []) for part in ("images", "labels", "predicted", "confidence")]
        worst = views.grid([views.figure(plots.png_uri(image.astype(np.uint8)), f"true {t}, said {p} ({c:.0%})", 84)
                            for image, t, p, c in zip(*parts)])
        return matrix, curves, f"<p class='examples-label'>Its most confident mistakes</p>{worst}"

    def select_model(self, key):
        """Highlight the chosen model's panel and show its layers and test-set views."""
        panels = [gr.Label(elem_classes=["panel", "selected"] if k == key else ["panel"]) for k in MODEL_NAMES]
        names = self.predictor.layer_names[key]
        picker = gr.Radio(names, value=names[0], visible=len(names) > 1)
        views = self.insight(key)
        if self._warming is None:  # after the first page load, draw the other models' charts in the background
            self._warming = threading.Thread(target=lambda: [self.insight(k) for k in MODEL_NAMES], daemon=True)
            self._warming.start()
        return *panels, picker, *views


def _saving_off(reason):
    return f"Saving is off: the store cannot be used ({html.escape(str(reason))})."


def _remember_latest(seqs, visitor, seq):
    """Keep the visitor's highest `seq` in `seqs` (an OrderedDict), the MAX_VISITS_KEPT latest visits."""
    seqs[visitor] = max(seq, seqs.get(visitor, seq))
    seqs.move_to_end(visitor)
    if len(seqs) > MAX_VISITS_KEPT:
        seqs.popitem(last=False)


def _load_predictor(weights_dir):
    from digitpad.inference import Predictor  # imports TensorFlow

    try:
        predictor = Predictor(weights_dir)
        plots.activation(np.zeros((2, 2))), plots.weights(np.zeros((2, 2)))  # matplotlib's colour maps, loaded
        adapt.variants(np.zeros((1, 28, 28)))  # the adaptation's variant maps (0.3 s), made before a first label
        with contextlib.suppress(adapt.AdaptError):  # without its replayed digits a label says so, the pad still reads
            adapt.replayed(predictor)  # and the digits its refits replay, run once
        freeze_loaded_objects()
        return predictor
    except WeightsError as error:
        print(f"DigitPad cannot predict: {error}", file=sys.stderr)
        raise


def _read_json(path):
    return json.loads(path.read_text()) if path.exists() else {}


# ---------------------------------------------------------------- the page


def build_demo(weights_dir=None):
    """The page. Weights come from `weights_dir`, else $DIGITPAD_WEIGHTS, else weights/."""
    app = DigitPad(weights_dir or os.environ.get("DIGITPAD_WEIGHTS") or ROOT / "weights")
    examples = json.loads(EXAMPLES.read_text())
    with gr.Blocks(title="DigitPad: five models read your handwriting") as demo:
        current = gr.State()  # the Reading of the drawing on the pad
        session = gr.State()  # the visitor's challenge.Session: labels, round, saves
        # Plain HTML, not gr.Markdown: the page loads no Markdown renderer (its modules were 30 KB of a
        # phone's first visit).
        gr.HTML(
            "<h1>✏️ DigitPad</h1><p>Draw a digit. Five TensorFlow models, from a one-layer perceptron to a "
            "batch-normalised CNN, read it as you draw; compare their answers and look inside the one you pick.</p>",
            elem_id="intro")
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=300):
                prompt = gr.HTML("", elem_id="challenge-prompt")
                sketch = pad.DrawingPad()  # #sketchpad: a canvas, Undo and Clear (#clear); its value: the strokes
                # On a narrow screen the answer line sits right under the pad, in view while the finger draws.
                compact = gr.HTML("<div class='compact empty'>Draw a digit</div>", elem_id="verdict-compact")
                with gr.Row():
                    # "Done" first: on a phone it comes right under the answer line, where the finger is.
                    next_drawing = gr.Button("Done: next digit", variant="primary", visible=False,
                                             elem_id="challenge-next")
                    start = gr.Button(START, elem_id="challenge-start")
                pad.example_strip(
                    [(e["value"], f"a {e['label']} by UNIPEN writer {e['writer']}" + (f"; {e['note']}" if "note" in e
                      else "")) for e in examples],
                    "Or try one of these, written with a pen on a tablet by people no model trained on (UNIPEN, CC BY "
                    "4.0; the last two fooled the MNIST-only models):", elem_id="examples")
            with gr.Column(scale=2, min_width=260):
                verdict = gr.HTML("<div class='verdict empty'>Draw a digit</div>", elem_id="verdict")
                wrong = gr.Radio([str(d) for d in range(10)], label="Wrong? It was:",
                                 elem_id="correction", elem_classes=["digits"])
                seen = gr.HTML(views.empty_seen(), elem_id="seen")
        with gr.Row(elem_id="panels"):
            panels = []
            for key in MODEL_NAMES:
                with gr.Column(min_width=150):
                    panels.append(gr.Label(num_top_classes=10, label=DISPLAY_NAMES[key], elem_id=f"panel-{key}",
                                           elem_classes=["panel", "selected"] if key == "cnn_batchnorm" else ["panel"]))
                    gr.HTML(views.accuracy_line(app.metrics.get(key)), elem_classes=["accuracy"])
        gr.HTML("<h2>Which model reads your handwriting?</h2>")
        with gr.Row(equal_height=False):
            scoreboard = gr.HTML(views.scoreboard(Session()), elem_id="scoreboard")
            with gr.Column():
                consent = gr.Checkbox(False, label="Save my labelled drawings to help measure the models",
                                      elem_id="consent",
                                      info="Kept: the drawing's strokes and a small picture of it, its 28x28, the "
                                           "label, the five models' answers, the time and a random id for this "
                                           "visit. Nothing else. While this visit lasts, \"Forget my saved "
                                           "drawings\" deletes them; after it, nothing links them to you.")
                forget_saved = gr.Button("Forget my saved drawings", elem_id="forget-saved", size="sm")
                save_status = gr.HTML("", elem_id="save-status")
                store_figure = gr.HTML("", elem_id="store-figure")
                with gr.Row():
                    # The visitor's adaptation lives in their session only: never shared, never stored.
                    adapt_switch = gr.Checkbox(False, label="Adapt the models to my handwriting", elem_id="adapt",
                                               info="On after your first round: each model's last layer learns "
                                                    "from your labelled drawings, for this visit only.")
                    forget_adapt = gr.Button("Forget my handwriting", elem_id="adapt-forget", size="sm", scale=0)
                adapt_status = gr.HTML(views.adaptation_status(None), elem_id="adapt-status")
        with gr.Row(equal_height=False):
            round_chart = gr.HTML("", elem_id="round-chart")
            round_misses = gr.HTML("", elem_id="round-misses")
        gr.HTML("<h2>Inside a model</h2>")
        with gr.Row():
            choice = gr.Dropdown([(DISPLAY_NAMES[k], k) for k in MODEL_NAMES], value="cnn_batchnorm",
                                 label="Model", elem_id="model-choice", scale=1)
            layer = gr.Radio([], label="Layer", scale=3)  # the chosen model's layers, set on page load
        inside = gr.HTML(views.inside_html("<i>Draw a digit to see what this model's first layer responds to.</i>",
                                           "", ""), elem_id="inside")
        learned = gr.HTML(views.learned(None, None, "cnn_batchnorm"), elem_id="learned")
        with gr.Accordion("How this model did on the 10,000 MNIST test digits", open=False):
            with gr.Row():
                confusion = gr.HTML("", elem_id="confusion")
                curves = gr.HTML("", elem_id="curves")
            worst = gr.HTML("", elem_id="worst")
        # The `predict` API's input: a sketchpad value or an image, as before the pad (never shown).
        api_drawing = drawing_pad(visible=False, elem_id="api-drawing")

        # One request per drawing, answered directly (no queue round trips), updates every view from one
        # Prediction (kept in `current`). While the pen moves the pad sends its strokes every SEND_EVERY ms
        # (its input event), and on the lift the final drawing (its change event: it does not wait for a
        # live one in flight); always_last: a newer drawing supersedes one that waits, the last is read.
        drawing_views = [current, *panels, verdict, compact, seen, inside, wrong]
        answered = {"api_visibility": "private", "queue": False, "trigger_mode": "always_last", "show_progress": "hidden",
                    "preprocess": False, "postprocess": False}
        sketch.change(app.read, [sketch, choice, layer, session], drawing_views, **answered)  # the pen lifted
        live_views = [current, *panels, verdict, compact, seen, wrong]  # LIVE_UNCHANGED's outputs
        sketch.input(app.read_live, [choice, layer, session], live_views, **answered)  # the pen still moving
        gr.on([choice.change, layer.change], app.inspect, [current, choice, layer], inside,
              api_visibility="private", trigger_mode="always_last", show_progress="hidden", queue=False)
        # The API: `predict` takes a sketchpad value or an image, `predict_strokes` the pad's value.
        gr.on([], app.predict, api_drawing, [*panels, verdict], api_name="predict")
        gr.on([], app.predict, sketch, [*panels, verdict], api_name="predict_strokes")
        choice.change(app.select_model, choice, [*panels, layer, confusion, curves, worst], api_visibility="private")
        demo.load(app.select_model, choice, [*panels, layer, confusion, curves, worst], api_visibility="private")
        # Labels: the challenge's asked digit, or a correction; each updates the score and, with consent, the store.
        labelled_views = [session, prompt, next_drawing, scoreboard, save_status, round_chart, round_misses,
                          store_figure, adapt_switch, adapt_status, learned, start]
        start.click(app.start_round, session, labelled_views, api_visibility="private").then(None, js=pad.CLEAR_PAD)
        # Labels are answered several at once (each may wait a moment for its visitor's refit, made elsewhere).
        labels = {"api_visibility": "private", "concurrency_limit": LABELS_AT_ONCE, "concurrency_id": "labels"}
        next_drawing.click(app.answer, [session, current, consent, choice], labelled_views,
                           **labels).success(None, js=pad.CLEAR_PAD)
        wrong.input(app.correct, [session, current, wrong, consent, choice], labelled_views, **labels)
        adapt_switch.input(app.switch_adaptation, [session, adapt_switch, choice], labelled_views,
                           api_visibility="private")
        forget_adapt.click(app.forget_adaptation, [session, choice], labelled_views, api_visibility="private")
        # The visit's store id stays in its session on the server: Forget acts on the caller's own visit only.
        forget_saved.click(app.forget_saved, session, save_status, api_visibility="private").then(
            app.store_summary, None, store_figure, api_visibility="private")
        choice.change(app.learned_view, [session, choice], learned, api_visibility="private")
        demo.load(app.store_summary, None, store_figure, api_visibility="private")
    # A bounded queue for what goes through it (the API, labels): a flood is refused at the door.
    demo.queue(max_size=MAX_QUEUE)
    demo.digitpad = app  # the live drawings' answers at the door (`answer_live_drawing`)
    return demo


CSS = """
#sketchpad .html-container { padding: 0; }  /* the pad as wide as its column, on a phone too */
.panel.selected { outline: 3px solid var(--color-accent); border-radius: var(--block-radius); }
.figure { margin: 0; text-align: center; } .figure figcaption { font-size: 0.8rem; margin-top: 2px; }
.pixels { image-rendering: pixelated; display: block; margin: 0 auto; aspect-ratio: 1 / 1; }
.tile { background-image: var(--tiles); background-repeat: no-repeat; }
.empty-figure { width: 224px; height: 224px; margin: 0 auto; display: flex; align-items: center; padding: 1rem;
  justify-content: center; font-size: 0.85rem; border: 1px dashed var(--border-color-primary); border-radius: 8px; }
.figure .pictures { display: flex; gap: 2px; justify-content: center; }
.picture-grid { display: flex; flex-wrap: wrap; gap: 10px 8px; }
.layer-note { margin: 0 0 8px; } .inside-row { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }
#activations { flex: 3 1 320px; } #saliency { flex: 1 1 240px; }
.examples-label { font-size: 0.85rem; margin: 0.4rem 0; }
.figure.chart img { max-width: 100%; height: auto; }
.example-buttons { display: flex; flex-wrap: wrap; gap: 4px; }
.pad-example { padding: 2px; background: #fff; border: 1px solid var(--border-color-primary); border-radius: 6px;
  cursor: pointer; }
#intro h1 { margin: 0.2rem 0 0.4rem; } #intro p { margin: 0; }
#challenge-prompt:not(:has(h3)) { display: none; }  /* no round: no empty space above the pad */
#verdict-compact { display: none; }
@media (max-width: 720px) {  /* a phone: the answer line under the pad; the examples strip after it */
  #intro h1 { font-size: 1.5rem; } #intro p { font-size: 0.85rem; line-height: 1.35; }
  #verdict-compact { display: block; }
  .compact { font-size: 0.9rem; padding: 0.35rem 0.6rem; border-radius: 8px; background: var(--block-background-fill);
             line-height: 1.5; }
  .compact.agree { background: #e6f6ea; } .compact.disagree { background: #fff4dc; } .compact.unsure, .compact.notdigit { background: #fde8e8; }
  .compact span { white-space: nowrap; margin-right: 0.35rem; } .compact-head { font-size: 1.05rem; }
  /* In a round the prompt says what to do: the pad, the answer and "Done" fit a small phone's screen.
     (Gradio puts its container before each selector of a media rule: `div`, not `body`.) */
  div:has(#challenge-prompt h3) #intro { display: none; }
}
#server-lost { position: fixed; top: 0; left: 0; right: 0; z-index: 1000; padding: 0.7rem 1rem; background: #b91c1c; font-family: var(--font);
  color: #fff; font-size: 1rem; text-align: center; }
#server-lost button { margin-left: 0.6rem; padding: 2px 12px; border-radius: 6px; border: 0; background: #fff;
  color: #b91c1c; font-weight: 600; cursor: pointer; }
.verdict { font-size: 1.15rem; padding: 0.6rem 0.8rem; border-radius: 8px; background: var(--block-background-fill); }
.verdict.agree { background: #e6f6ea; } .verdict.disagree { background: #fff4dc; }
.verdict.unsure, .verdict.notdigit { background: #fde8e8; }
.chips { display: flex; flex-wrap: wrap; gap: 4px; margin-top: 6px; }
.chip { font-size: 0.85rem; padding: 2px 8px; border-radius: 12px; background: var(--block-background-fill);
        border: 1px solid var(--border-color-primary); }
.chip.low { opacity: 0.6; }
.accuracy { font-size: 0.8rem; }
.panel .output-class { padding-top: 2.4rem !important; }  /* below the two-line model names */
#challenge-prompt h3 { margin: 0; padding: 0.4rem 0.8rem; border-radius: 8px; background: #eef2ff; }
.digits .wrap { gap: 4px !important; } .digits label { min-width: 2.2rem; justify-content: center; }
.scoreboard table { width: 100%; border-collapse: collapse; }
.scoreboard td { padding: 3px 8px; border-bottom: 1px solid var(--border-color-primary); }
.scoreboard td.count { white-space: nowrap; text-align: right; font-variant-numeric: tabular-nums; }
.scoreboard td.bar { width: 40%; } .scoreboard td.bar span { display: block; height: 10px; border-radius: 5px;
  background: var(--color-accent); }
"""

# The theme's look with the system's own fonts: nothing to download before the page can be drawn (its
# Google fonts were 161 KB of a phone's first visit).
THEME = gr.themes.Soft(font=["ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Roboto", "sans-serif"],
                       font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"])
# When the server that holds the visit stops answering (it restarted, or a replica behind a load balancer
# died: nginx answers 502 with a message, see deploy/nginx.conf), Gradio's page would sit still with the
# last answer. Every call the page makes is watched: a gateway error or a refused connection puts a bar
# on top that says so, with a Reload button (a reload starts a new visit, on a server that answers).
SERVER_LOST_JS = """() => {
  const fallback = 'The server stopped answering. Reload the page to go on (saved drawings are kept).';
  function show(text) {
    let bar = document.getElementById('server-lost');
    if (!bar) {
      bar = document.createElement('div');
      bar.id = 'server-lost'; bar.setAttribute('role', 'alert');
      bar.innerHTML = '<span></span> <button type="button">Reload</button>';
      bar.querySelector('button').addEventListener('click', () => location.reload());
      document.body.appendChild(bar);
    }
    bar.querySelector('span').textContent = text;
  }
  const original = window.fetch.bind(window);
  window.fetch = async (resource, init) => {
    const api = String(resource && resource.url ? resource.url : resource).includes('/gradio_api/');
    let response;
    try {
      response = await original(resource, init);
    } catch (error) {
      if (api && !(error && error.name === 'AbortError')) show(fallback);
      throw error;
    }
    if (api && [502, 504].includes(response.status)) {  // a gateway's: the server behind it is gone
      response.clone().json().then(body => show(body.error || fallback), () => show(fallback));
    }
    return response;
  };
}"""


def event_answer(data):
    """An event's answer as Gradio sends it (`data`: a value per output), for the pad's events answered
    at the door by a middleware; a state's value there is null (left as it is)."""
    return {"data": data, "is_generating": False, "duration": 0.0, "average_duration": None, "render_config": None,
            "changed_state_ids": []}


# The pad's live event's answer that changes nothing, given at the door under load (`serving.LiveDoor`):
# its outputs are the session's Reading (a state: null) and the nine views a live drawing updates.
LIVE_UNCHANGED = event_answer([None] + [{"__type__": "update"}] * 9)


def refuse_strokes(body):
    """The answer to a pad's request of more strokes than are read (`serving.BodyLimit` asks, for large
    bodies whose strokes it counted past the limit), as `DigitPad.read` answers a drawing it cannot read:
    the views say why. None when the body is not such a request (Gradio answers it). The session's
    Reading stays as it was (the door cannot set a state); the page's pad never sends such a drawing."""
    try:
        request = json.loads(body)
        sent = request.get("event_data")  # the page's pad sends its strokes as the event's data
        value = sent if sent is not None else request["data"][0]
        live = isinstance(value, dict) and value.get("live") is True  # the pen moving: the input event's answer
        preprocess.check_strokes(value)
    except preprocess.DrawingError as error:
        prediction = Prediction(np.zeros((28, 28), np.float32), message=str(error))
        *shown, inside = views.drawing_views(None, prediction, views.point_count(value), (None, None))
        return json.dumps(event_answer([None, *shown, *([] if live else [inside]), None])).encode()
    except (ValueError, LookupError, TypeError, AttributeError):  # not the pad's request
        pass
    return None


async def answer_live_drawing(scope, request):
    """The answer to the pad's live drawing at the door (`serving.LiveDoor`): the page's own
    (`DigitPad.answer_live`), found through the server app that serves it."""
    return await scope["app"].get_blocks().digitpad.answer_live(request)


# Request bodies are bounded before they are read (the pad's strokes skip the queue and its limits), live
# drawings give way under load (and are answered at the door below it), and what a slow link carries is made
# small (digitpad.transfer).
LAUNCH_OPTIONS = {"css": CSS, "theme": THEME, "js": SERVER_LOST_JS,
                  "app_kwargs": {"middleware": [
                      Middleware(BodyLimit, refuse_strokes=refuse_strokes),
                      Middleware(Transfer),  # in front of the door: its answers are compressed as Gradio's are
                      Middleware(LiveDoor, unchanged=LIVE_UNCHANGED, at=SHED_LIVE_AT * workers.usable_cores(),
                                 answer=answer_live_drawing)]}}
