"""What each view of the page shows, computed from one Prediction: no Gradio layout here.

drawing -> `Predictor.predict` -> one Prediction -> every function below. The page (`digitpad.ui`)
only places their results.
"""

import functools
import html
from dataclasses import replace
from typing import NamedTuple

import numpy as np

from digitpad import plots
from digitpad.catalog import DISPLAY_NAMES, MODEL_NAMES

UNSURE = 0.5  # a top probability under this is reported as "unsure"
UNITS_SHOWN = 12  # first-layer units shown for the MLPs


def point_count(strokes):
    """How many points a pad value holds (0 for anything else)."""
    try:
        return sum(len(stroke) for stroke in strokes["strokes"])
    except (TypeError, KeyError):
        return 0


def stamped(view, points):
    """A view's HTML marked with the drawing it shows, by its number of points: the browser
    benchmark (and anyone) can tell an answer to the final drawing from an earlier one."""
    return f"<div class='drawing' data-points='{points}'>{view}</div>"


def label_value(probabilities):
    """gr.Label value: all ten digits with their probabilities."""
    return {str(digit): float(p) for digit, p in enumerate(probabilities)}


def panels(prediction):
    """The five panels' gr.Label values (None each when there is no prediction)."""
    return [label_value(prediction.probabilities[k]) if prediction.probabilities else None for k in MODEL_NAMES]


def panel_data(prediction, as_trained=None):
    """The five panels as gr.Label sends them to the page (what its postprocess makes of
    `label_value`), for an event that skips postprocessing; {} each when there is no prediction.
    With `as_trained` ({key: (10,)}: the prediction is the adapted models'), a panel whose model as
    trained reads the drawing otherwise says so beside its answer: "7 · as trained: 2"."""
    if not prediction.probabilities:
        return [{}] * len(MODEL_NAMES)
    if prediction.digits:  # a number: the panel's reading, and each digit's confidence in its place
        read = readings(prediction)
        return [{"label": read[key], "confidences": [
            {"label": f"digit {i + 1}: {read[key][i]}", "confidence": float(p.probabilities[key].max())}
            for i, p in enumerate(prediction.digits)]} for key in MODEL_NAMES]
    data = []
    for key in MODEL_NAMES:
        ranked = sorted(enumerate(prediction.probabilities[key].tolist()), key=lambda item: item[1], reverse=True)
        label = str(ranked[0][0])
        if as_trained is not None and int(as_trained[key].argmax()) != ranked[0][0]:
            label += f" · as trained: {int(as_trained[key].argmax())}"
        data.append({"label": label, "confidences": [{"label": str(digit), "confidence": p} for digit, p in ranked]})
    return data


def adapted_views(prediction, adapted, points):
    """The panels and verdict of the adapted models (`adapt.Adapted`) for a drawing read as trained."""
    probabilities = {key: p[0] for key, p in adapted.apply(prediction.features).items()}
    shown = replace(prediction, probabilities=probabilities)
    changed = [DISPLAY_NAMES[k] for k in MODEL_NAMES if adapted.changed[k]]
    note = (f"<div class='adapted-note'>Adapted to your {adapted.count} labelled drawing"
            f"{'s' * (adapted.count != 1)}: "
            f"{', '.join(changed) + ' changed' if changed else 'no model yet (' + html.escape(adapted.unchanged_why) + ')'}.</div>")
    state, verdict = agreement(shown)
    return (*panel_data(shown, prediction.probabilities), stamped(verdict + note, points),
            stamped(compact(shown, state, adapted.count), points))


def readings(prediction):
    """{key: what each model reads}: a digit ("7"), or a number digit by digit ("42")."""
    return {key: "".join(str(int(p.probabilities[key].argmax())) for p in prediction.digits or [prediction])
            for key in MODEL_NAMES}


def agreement(prediction):
    """(state, HTML): do the five agree, and how sure are they? state is one of 'empty', 'notdigit',
    'agree', 'unsure', 'disagree'. A number is read digit by digit; a drawing unlike any digit the
    models were trained on is said to be so, with the softmax shown anyway: the models must answer."""
    if not prediction.probabilities:
        return "empty", f"<div class='verdict empty'>{prediction.message}</div>"
    if prediction.digits:
        return _number_agreement(prediction)
    guesses = {key: int(p.argmax()) for key, p in prediction.probabilities.items()}
    confidence = {key: float(p.max()) for key, p in prediction.probabilities.items()}
    votes = np.bincount(list(guesses.values()), minlength=10)
    chips = "".join(
        f"<span class='chip{' low' if confidence[k] < UNSURE else ''}'>{DISPLAY_NAMES[k]}: "
        f"<b>{guesses[k]}</b> {confidence[k]:.0%}</span>"
        for k in MODEL_NAMES
    )
    if not prediction.is_digit:
        surest = max(MODEL_NAMES, key=confidence.get)
        state, text = "notdigit", (
            "This is not like any digit the models were trained on. They answer anyway — softmax always picks a "
            f"digit: {DISPLAY_NAMES[surest]} says <b>{guesses[surest]}</b> at {confidence[surest]:.0%}.")
    elif max(confidence.values()) < UNSURE or votes.max() <= 2:
        state, text = "unsure", "This doesn't look like a digit to the models: they are unsure or scattered."
    elif votes.max() == len(guesses) and min(confidence.values()) >= UNSURE:
        state, text = "agree", f"All five models say <b>{votes.argmax()}</b>."
    else:
        state = "disagree"
        dissent = [DISPLAY_NAMES[k] for k, g in guesses.items() if g != votes.argmax() or confidence[k] < UNSURE]
        text = f"Mostly <b>{votes.argmax()}</b>, but not sure or not agreed: {', '.join(dissent)}."
    return state, f"<div class='verdict {state}'>{text}</div><div class='chips'>{chips}</div>"


def majority(read):
    """(the reading most models give, [the models giving it]) of {key: reading}."""
    counts = {}
    for key in MODEL_NAMES:
        counts.setdefault(read[key], []).append(key)
    return max(counts.items(), key=lambda item: len(item[1]))


def _number_agreement(prediction):
    read = readings(prediction)
    chips = "".join(f"<span class='chip'>{DISPLAY_NAMES[k]}: <b>{read[k]}</b></span>" for k in MODEL_NAMES)
    most, agreeing = majority(read)
    others = [k for k in MODEL_NAMES if read[k] != most]
    if not prediction.is_digit:
        state, text = "notdigit", (f"Read as the number <b>{most}</b>, but some of it is not like any digit the "
                                   "models were trained on (they answer anyway).")
    elif not others:
        state, text = "agree", f"All five read <b>{most}</b>."
    elif len(agreeing) >= 3:
        state = "disagree"
        text = "; ".join(f"The {DISPLAY_NAMES[k]} reads {read[k]}" for k in others) + f", the others <b>{most}</b>."
    else:
        state, text = "unsure", "The models read different numbers: " + ", ".join(
            f"{DISPLAY_NAMES[k]} {read[k]}" for k in MODEL_NAMES) + "."
    return state, f"<div class='verdict {state}'>{text}</div><div class='chips'>{chips}</div>"


class Tile(NamedTuple):
    """The `index`-th of the pictures laid side by side in one image, the enclosing grid's (`grid`'s
    `tiles`): a layer's feature maps, one PNG for all of them."""
    index: int


def figure(images, caption, size, classes="figure"):
    """HTML: small images (one or a list, side by side; arrays, data: URIs or Tiles) inlined (no
    follow-up request), each drawn `size` px wide with its pixels kept square and sharp, and one
    caption below."""
    images = images if isinstance(images, list) else [images]
    alt = html.escape(caption, quote=True)
    pictures = "".join(_picture(image, alt, size) for image in images)
    return f"<figure class='{classes}'><div class='pictures'>{pictures}</div><figcaption>{html.escape(caption)}</figcaption></figure>"


def _picture(image, alt, size):
    if isinstance(image, Tile):  # the grid's picture, shifted to its tile and scaled to `size` px high
        return (f"<span role='img' aria-label='{alt}' class='pixels tile' style='width:{size}px;"
                f"background-position:-{image.index * size}px 0;background-size:auto {size}px'></span>")
    uri = image if isinstance(image, str) else plots.png_uri(image)
    return f"<img src='{uri}' alt='{alt}' style='width:{size}px' class='pixels'>"


@functools.lru_cache(maxsize=None)
def weight_picture(model, index):
    """data: URI of the weights of one filter or unit of the model's first layer (3x3 or 28x28, red
    positive, blue negative): they never change, so each is drawn once."""
    from digitpad.inference import first_weighted_layer  # loaded by now, with the models

    kernel = np.asarray(first_weighted_layer(model).kernel)
    weights = kernel[:, :, 0, index] if kernel.ndim == 4 else kernel[:, index].reshape(28, 28)
    return plots.png_uri(plots.weights(weights))


def seen(prediction):
    """HTML: the 28x28 the models read, enlarged 8 times, captioned below it; each digit's, for a number."""
    images = [(np.asarray(p.image) * 255).round().astype(np.uint8) for p in prediction.digits or [prediction]]
    if len(images) == 1:
        return figure(images[0], "What the models see (28x28)", 224, "figure seen-figure")
    size = max(56, 224 // len(images) * 2 if len(images) <= 2 else 448 // len(images))
    return figure(images, f"What the models see: {len(images)} digits, each 28x28", size, "figure seen-figure")


def empty_seen():
    return "<div class='figure empty-figure'>What the models see (28x28) shows here</div>"


def layer_gallery(predictor, prediction, key, layer_index):
    """(HTML of a grid of small pictures, note) for one shown layer of a model on the current drawing."""
    model = predictor.models[key]
    name, values = prediction.layers[key][layer_index]
    if values.ndim == 3:  # a convolution block: one feature map per filter
        first = layer_index == 0
        top = float(values.max()) or 1.0  # one scale for all maps of the layer: comparable brightness
        # One PNG of every map side by side, each figure showing its tile: a twelfth of the encoding work
        # (0.57 ms a drawing for twelve PNGs, 0.12 for one) and one picture for the page to decode.
        tiles = plots.activation(np.concatenate(np.moveaxis(values, -1, 0), axis=1), top)
        items = []
        for f in range(values.shape[-1]):
            pictures = [Tile(f)]
            if first:  # the filter's 3x3 kernel, then what it found
                pictures.insert(0, weight_picture(model, f))
            caption = f"filter {f + 1}: {'kernel | ' if first else ''}max {values[..., f].max():.2f}"
            items.append(figure(pictures, caption, 84))
        note = (f"<b>{name}</b> of {DISPLAY_NAMES[key]}"
                + (", after batch norm and ReLU" if "batchnorm" in key else ", linear (no activation)")
                + f": what each filter responds to in your drawing (bright = strong; one scale, max {top:.2f}).")
        if first:
            note += " Left of each map, its 3x3 kernel (red positive, blue negative)."
        return grid(items, tiles), note
    if key == "perceptron":
        items = [figure(weight_picture(model, d), f"digit {d}: p = {values[d]:.0%}", 84) for d in range(10)]
        note = ("<b>No convolution</b>: the perceptron is one Dense layer. These are its ten 28x28 class templates: "
                "red pixels vote for the digit when inked, blue ones against.")
        return grid(items), note
    strongest = np.argsort(-values)[:UNITS_SHOWN]
    items = [figure(weight_picture(model, u), f"unit {u}: activation {values[u]:.2f}", 84) for u in strongest]
    note = (f"<b>No convolution</b>: {DISPLAY_NAMES[key]} starts with a Dense layer of {len(values)} units, each "
            f"looking at the whole image. Here, the weights of the {UNITS_SHOWN} units your drawing excites most "
            "(red = ink here excites the unit, blue = inhibits it).")
    return grid(items), note


def drawing_views(predictor, prediction, points, inspect=None):
    """What a drawing's answer shows, as the page's components take them: the five panels (gr.Label's
    data), the verdict, its compact copy (a phone's answer line under the pad) and the 28x28, stamped
    with the drawing's `points`; and "Inside a model" for `inspect` (model key, layer name), or None (a
    live drawing: it waits for the pen to lift)."""
    seen_view = seen(prediction) if prediction.probabilities else empty_seen()
    state, verdict = agreement(prediction)
    return (*panel_data(prediction), stamped(verdict, points),
            stamped(compact(prediction, state), points), stamped(seen_view, points),
            None if inspect is None else inside(predictor, prediction, *inspect, points))


SHORT_NAMES = {"perceptron": "Perceptron", "mlp": "MLP", "mlp_dropout": "MLP+drop", "cnn": "CNN",
               "cnn_batchnorm": "CNN+BN"}


def compact(prediction, state, adapted_count=None):
    """HTML of the answer line a phone shows right under the pad: the verdict (its `state`, from
    `agreement`) in a few words and each model's digit with its confidence, on one or two lines."""
    if state == "empty":
        return f"<div class='compact empty'>{html.escape(prediction.message)}</div>"
    read = readings(prediction)
    most, _ = majority(read)
    head = {"agree": f"All five: <b>{most}</b>", "disagree": f"Mostly <b>{most}</b>",
            "unsure": "Not sure it is a digit", "notdigit": "Not like a digit"}[state]
    if adapted_count:
        head += " <small>(adapted to you)</small>"
    confidence = {k: min(float(p.probabilities[k].max()) for p in prediction.digits or [prediction]) for k in MODEL_NAMES}
    models = " ".join(f"<span>{SHORT_NAMES[k]} <b>{read[k]}</b> {confidence[k]:.0%}</span>" for k in MODEL_NAMES)
    return f"<div class='compact {state}'><span class='compact-head'>{head}</span> {models}</div>"


def inside(predictor, prediction, key, layer_name, points=None):
    """HTML of "Inside a model" for the chosen model and layer on the current drawing: a note, the
    layer's pictures and the saliency, in one view (one output a drawing updates, not three), stamped
    with the drawing it shows when `points` is given."""
    if not prediction.probabilities:
        return inside_html(f"<i>{html.escape(prediction.message or 'Draw a digit')}</i>", "", "", points)
    names = predictor.layer_names[key]
    pictures, note = layer_gallery(predictor, prediction, key, names.index(layer_name) if layer_name in names else 0)
    if prediction.digits:
        note += f" (The first of the number's {len(prediction.digits)} digits.)"
    return inside_html(note, pictures, saliency(predictor, prediction, key), points)


def inside_html(note, pictures, saliency_html, points=None):
    stamp = (lambda view: stamped(view, points)) if points is not None else (lambda view: view)
    return (f"<p class='layer-note'>{note}</p><div class='inside-row'><div id='activations'>{stamp(pictures)}</div>"
            f"<div id='saliency'>{stamp(saliency_html)}</div></div>")


def grid(items, tiles=None):
    """HTML: figures in rows; `tiles`, the data: URI of the image whose parts their Tiles show."""
    style = f" style=\"--tiles:url('{tiles}')\"" if tiles else ""
    return f"<div class='picture-grid'{style}>{''.join(items)}</div>"


def saliency(predictor, prediction, key):
    """HTML: the pixels that pushed the model toward its answer, captioned."""
    top = int(prediction.probabilities[key].argmax())
    computed = prediction.saliency.get(key)  # read with the drawing, or now
    picture = plots.saliency_overlay(prediction.image, computed if computed is not None else
                                     predictor.saliency(key, prediction.image, top))
    return figure(picture, f"Saliency: the pixels that pushed it toward {top}", 224, "figure saliency-figure")


def accuracy_line(result):
    """A panel's measured accuracy, pen-written digits of writers it never saw first."""
    if not result:
        return "not evaluated yet"
    real = (f"pen writers it never saw <b>{result['pen_held_out_accuracy']:.1%}</b> · "
            if "pen_held_out_accuracy" in result else "")
    real += (f"USPS {result['usps_test_accuracy']:.1%} · " if "usps_test_accuracy" in result else "")
    return (f"{real}MNIST test <b>{result['mnist_accuracy']:.2%}</b> · drawn MNIST {result['drawn_accuracy']:.1%} · "
            f"{result['parameters']:,} parameters")


def scoreboard(session, asked=None):
    """HTML: right / drawn per model over the session's labelled drawings, as trained and adapted to
    the visitor (each drawing scored by the adaptation made before it was labelled), and what is asked now."""
    drawn, right = session.score()
    scored, adapted, same = session.adapted_score()
    rows = "".join(
        f"<tr><td>{DISPLAY_NAMES[k]}</td><td class='count'>{right[k]} / {drawn}</td>"
        f"<td class='bar'><span style='width:{100 * right[k] / max(drawn, 1):.0f}%'></span></td>"
        f"<td class='count adapted'>{f'{adapted[k]} / {scored}' if scored else '–'}"
        f"{f' <small>(as trained {same[k]})</small>' if scored else ''}</td></tr>"
        for k in MODEL_NAMES
    )
    # A new round starts a new score: the round's drawings, and the corrections, which stay.
    in_round, _ = session.score(in_round_only=True)
    others = drawn - in_round
    if not drawn:
        note = "Label drawings to score the models: take the challenge, or say what a misread drawing was."
    elif not in_round:
        note = f"{drawn} drawing{'s' * (drawn != 1)} you labelled."
    else:
        note = (f"This round's {in_round} labelled drawing{'s' * (in_round != 1)}"
                + (f" and {others} more you labelled." if others else "."))
    if scored:
        note += (f" <i>Adapted to you</i>: the {scored} drawing{'s' * (scored != 1)} labelled since the models "
                 "adapted, each scored before they learned from it (and, to compare, as trained).")
    return (f"<div class='scoreboard'><p>{note}</p><table><tr><th></th><th>as trained</th><th></th>"
            f"<th>adapted to you</th></tr>{rows}</table></div>")


def adaptation_status(session):
    """HTML: is the visitor's adaptation on, to how many drawings, and which models it changed."""
    learning = (" <i>Learning from your latest label: your next drawings will show it.</i>"
                if session is not None and session.learning else "")
    if session is None or (session.adapted is None and not session.adapt_problem):
        return ("<i>The models adapt to your handwriting once you have labelled drawings (a challenge round).</i>"
                + learning)
    if session.adapted is None:
        return f"<i>{html.escape(session.adapt_problem)}</i>" + learning
    adapted = session.adapted
    changed = [DISPLAY_NAMES[k] for k in MODEL_NAMES if adapted.changed[k]]
    state = "On" if session.adapting else "Off (switch it on to use it)"
    return (f"{state}: adapted to your <b>{adapted.count}</b> labelled drawing{'s' * (adapted.count != 1)}; "
            + (f"changed: {', '.join(changed)}." if changed else f"no model changed yet: {html.escape(adapted.unchanged_why)}.")
            + learning)


def learned(predictor, adapted, key):
    """HTML for "Inside a model": what adapting to the visitor changed in the chosen model. The
    perceptron's ten templates as trained and adapted; for the others, each digit's score (the
    probability of the right digit) on the visitor's drawings, as trained and adapted."""
    if adapted is None:
        return ("<p class='learned-note'><i>Label your drawings (take the challenge, or say what a drawing was) and the "
                "models adapt to your handwriting; what that changes shows here.</i></p>")
    name = DISPLAY_NAMES[key]
    if not adapted.changed[key]:
        return (f"<p class='learned-note'>{name} is used as trained, not yet adapted to your {adapted.count} "
                f"drawing{'s' * (adapted.count != 1)}: {html.escape(adapted.unchanged_why)}.</p>")
    if key == "perceptron":
        now = adapted.heads[key].kernel  # the perceptron's one layer: its templates as trained are drawn once
        items = [figure([weight_picture(predictor.models[key], d), plots.png_uri(plots.weights(now[:, d].reshape(28, 28)))],
                        f"{d}: as trained | adapted", 84) for d in range(10)]
        return (f"<p class='learned-note'><b>What adapting to your {adapted.count} drawings changed</b>: the "
                f"perceptron's template of each digit, as trained and adapted to you.</p>{grid(items)}")
    before, after = adapted.scores[key]
    rows = "".join(
        f"<tr><td>{d}</td><td class='bar'><span class='trained' style='width:{100 * before[d]:.0f}%'></span>"
        f"<span style='width:{100 * after[d]:.0f}%'></span></td><td class='count'>{before[d]:.0%} → {after[d]:.0%}</td>"
        f"</tr>" for d in range(10) if not np.isnan(before[d]))
    return (f"<div class='scoreboard learned'><p class='learned-note'><b>What adapting to your {adapted.count} drawings "
            f"changed</b> in {name}: its score for the right digit on your drawings (the ones it learned from), "
            f"as trained (grey) and adapted.</p><table>{rows}</table></div>")


def prompt(session):
    """HTML of the challenge's state: what to draw, or how the round went."""
    if session is None or not session.order:
        return ""
    if session.in_round:
        return f"<h3>Draw a <b>{session.wanted}</b> ({session.asked + 1} of {len(session.order)})</h3>"
    drawn, right = session.score(in_round_only=True)
    best = max(right.values())
    winners = [DISPLAY_NAMES[k] for k in MODEL_NAMES if right[k] == best]
    names = winners[0] if len(winners) == 1 else ", ".join(winners[:-1]) + " and " + winners[-1]
    if len(winners) == len(MODEL_NAMES):
        names = "All five models"
    return f"<h3>Round over: {names} read{'s' * (len(winners) == 1)} your handwriting best ({best} of {drawn})</h3>"


def round_summary(session):
    """HTML (the chart of the five scores, each model's misses) for a finished round, inlined."""
    drawn, right = session.score(in_round_only=True)
    scored, adapted, same = session.adapted_score(in_round_only=True)
    chart = plots.to_image(plots.scores_figure([DISPLAY_NAMES[k] for k in MODEL_NAMES],
                                               [right[k] for k in MODEL_NAMES], drawn,
                                               [adapted[k] for k in MODEL_NAMES] if scored else None, scored,
                                               [same[k] for k in MODEL_NAMES]))
    misses = [figure(plots.png_uri((np.asarray(image) * 255).round().astype(np.uint8)),
                     f"{DISPLAY_NAMES[k]} said {said} for your {label}", 84)
              for k in MODEL_NAMES for image, label, said in session.misses(k)]
    caption = "Your round" if not scored else (
        f"Your round, as trained and adapted to you (the {scored} drawing{'s' * (scored != 1)} the adaptation "
        f"read before learning from {'them' if scored != 1 else 'it'})")
    return (chart_html(chart, caption),
            f"<p class='examples-label'>What each model misread</p>{grid(misses)}" if misses else
            "<p class='examples-label'>No model misread any of your drawings this round.</p>")


def chart_html(image, caption):
    """HTML: a chart (an RGB array) inlined, captioned, as wide as its column at most."""
    return (f"<figure class='figure chart'><img src='{plots.png_uri(image)}' alt='{html.escape(caption, quote=True)}'>"
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def store_figure(count, accuracy):
    """HTML: how the models do on what visitors labelled and agreed to keep."""
    if not count:
        return "<i>No labelled drawings kept yet.</i>"
    scores = " · ".join(f"{DISPLAY_NAMES[k]} <b>{accuracy[k]:.0%}</b>" for k in MODEL_NAMES)
    return f"Drawings people labelled: <b>{count:,}</b>; accuracy on them: {scores}"
