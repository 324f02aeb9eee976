"""Pictures of what the models see and compute, in one style.

Small images (inputs, feature maps, weights) are coloured with matplotlib colour maps straight from
numpy — no figure, a fraction of a millisecond each — and enlarged with nearest-neighbour so each
pixel stays visible. The two charts (confusion matrix, training curves) are matplotlib figures,
turned into images once. matplotlib is imported on first use, like TensorFlow, so that the page
answers before either has loaded.
"""

import base64
import functools
import io

import numpy as np
from PIL import Image

ACTIVATION_MAP = "magma"  # 0 = black, like the input's background
ACTIVATION_LEVELS = 32
WEIGHT_MAP = "RdBu_r"  # red positive, blue negative, white zero
PIXEL = 8  # screen pixels per model pixel for 28x28 images


def enlarge(image, factor=PIXEL):
    """Nearest-neighbour enlargement of an (H, W) or (H, W, 3) image."""
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


def gray(image):
    """(28, 28) float in [0, 1] -> enlarged uint8 grayscale, as the model sees it."""
    return enlarge((np.asarray(image) * 255).round().astype(np.uint8))


def png_uri(image):
    """A data: URI of a small uint8 (H, W) or (H, W, 3) image as PNG, to inline in the page's HTML:
    the browser shows it with the response that carries it, without a request of its own."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buffer, "PNG", compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def activation(values, top=None):
    """data: URI of non-negative-ish activations scaled to `top` (default: their own maximum), as a PNG
    of ACTIVATION_LEVELS colours: half the bytes of the same map in full RGB, which a lifted pen's
    answer carries a dozen of (the shading at 84 px a map looks the same)."""
    top = top if top is not None else max(float(np.abs(values).max()), 1e-6)
    levels = np.clip(values / top * (ACTIVATION_LEVELS - 1), 0, ACTIVATION_LEVELS - 1).round().astype(np.uint8)
    # From bytes, with the palette as bytes: half the 90 us that a list palette and fromarray took.
    image = Image.frombytes("P", levels.shape[::-1], levels.tobytes())
    image.putpalette(_palette(ACTIVATION_MAP, ACTIVATION_LEVELS), rawmode="RGB")
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


@functools.cache
def _palette(name, levels):
    return _rgb(_colormap(name)(np.linspace(0, 1, levels))).tobytes()


def weights(values):
    """Signed weights -> RGB in a diverging map centred on zero."""
    limit = max(float(np.abs(values).max()), 1e-6)
    return _rgb(_colormap(WEIGHT_MAP)(0.5 + 0.5 * values / limit))


@functools.cache
def _colormap(name):
    import matplotlib

    return matplotlib.colormaps[name]


def _rgb(rgba):
    return (rgba[..., :3] * 255).round().astype(np.uint8)


def saliency_overlay(image, saliency):
    """The input in gray with the saliency in red on top: where the model looked. (28, 28, 3) uint8."""
    base = np.repeat(np.asarray(image)[..., None], 3, axis=2) * 0.45
    heat = saliency / max(float(saliency.max()), 1e-9)
    overlay = base * (1 - heat[..., None]) + heat[..., None] * np.array([1.0, 0.15, 0.1])
    return (overlay * 255).round().astype(np.uint8)


def to_image(figure):
    """RGB numpy array of a matplotlib figure: cheap to cache and to send.

    Figures are made without pyplot (no global state), so they can be drawn from any thread.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def _style(axes, title):
    axes.set_title(title, fontsize=11)
    axes.tick_params(labelsize=9)


def _figure(**options):
    from matplotlib.figure import Figure

    return Figure(dpi=90, layout="constrained", **options)


def confusion_figure(matrix, name):
    figure = _figure(figsize=(4.6, 4.2))
    axes = figure.subplots()
    matrix = np.asarray(matrix)
    # Log colour scale so the few mistakes show next to ~1,000 correct answers on the diagonal.
    axes.imshow(np.log1p(matrix), cmap="Blues")
    for (row, col), count in np.ndenumerate(matrix):
        if count:
            axes.text(col, row, str(count), ha="center", va="center", fontsize=7,
                      color="white" if row == col else "black")
    axes.set_xticks(range(10))
    axes.set_yticks(range(10))
    axes.set_xlabel("predicted digit")
    axes.set_ylabel("true digit")
    _style(axes, f"{name}: MNIST test confusion")
    return figure


def curves_figure(history, name):
    """Loss and accuracy per epoch, training vs validation."""
    figure = _figure(figsize=(7.5, 3.0))
    loss, accuracy = figure.subplots(1, 2)
    epochs = np.arange(1, len(history["loss"]) + 1)
    for axes, metric, label in ((loss, "loss", "loss"), (accuracy, "accuracy", "accuracy")):
        axes.plot(epochs, history[metric], "o-", markersize=3, label="training (augmented)")
        axes.plot(epochs, history[f"val_{metric}"], "o-", markersize=3, label="validation")
        axes.set_xlabel("epoch")
        axes.set_ylabel(label)
        axes.grid(alpha=0.3)
        _style(axes, f"{name}: {label}")
    accuracy.legend(fontsize=8)
    return figure


def scores_figure(names, right, drawn, adapted=None, scored=0, same=()):
    """Horizontal bars: how many of the round's drawings each model read right; with `adapted` (right, a
    model each), a second bar each: of the `scored` drawings the adaptation made before each label read, and
    beside it `same`: how many of those very drawings the model as trained read right."""
    figure = _figure(figsize=(6.0, 2.6 if adapted is None else 3.4))
    axes = figure.subplots()
    positions = np.arange(len(names))[::-1].astype(float)
    bars = [(right, drawn, "as trained", "#6366f1", [""] * len(names))]
    if adapted is not None:
        bars.append((adapted, scored, "adapted to you (each scored before it learned from it)", "#f59e0b",
                     [f" (as trained {count})" for count in same]))
    height = 0.8 / len(bars)
    for i, (counts, total, label, colour, notes) in enumerate(bars):
        where = positions + 0.4 - height * (i + 0.5)
        # as shares: the two columns may count different drawings
        shares = 100 * np.asarray(counts) / max(total, 1)
        axes.barh(where, shares, height=height, color=colour, label=label)
        for y, count, share, note in zip(where, counts, shares, notes):
            axes.text(share + 1, y, f"{count} / {total}{note}", va="center", fontsize=8 if adapted is not None else 9)
    axes.set_yticks(positions, names)
    axes.set_xlim(0, 125 if adapted is None else 150)
    axes.set_xticks([0, 25, 50, 75, 100], ["0", "25", "50", "75", "100 %"])
    axes.set_xlabel("drawings read right")
    if adapted is not None:
        figure.legend(fontsize=8, loc="outside lower center", ncol=2, frameon=False)
    _style(axes, "Your round: which model reads your handwriting")
    return figure
