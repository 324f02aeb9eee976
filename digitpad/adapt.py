"""Teach the models your handwriting: each model's last layer refitted to one visitor's labelled drawings.

The errors left on pen-written digits are mostly styles (a 1 with a long flag, a crossed 7, a slashed
0), and a style belongs to a writer. Each of the five models keeps everything it learned but its last
Dense layer, which is refitted on the visitor's labelled drawings (each also slightly rotated, scaled
and shifted: VARIANTS) while it keeps reading training digits (REPLAY_FILE) as it was trained to (their
probabilities as trained are the refit's targets: "learning without forgetting", Li & Hoiem 2016),
and pulled toward the weights it was trained with ("biased regularisation", Kienzle & Chellapilla, ICML 2006):

    minimise  mean over the drawings (each digit drawn weighing a tenth) of cross-entropy to the labels
              (for the digits drawn too few times to learn from: to the probabilities as trained)
              + REPLAY_WEIGHT * mean over the replayed digits of cross-entropy to the trained probabilities
              + PULL / 2 * (|W - W_trained|^2 + |b - b_trained|^2) * (scale of the features)

by L-BFGS from the trained weights. Do no harm: the replayed digits keep the refit from moving what the
visitor's drawings do not show, and only digits drawn MIN_DRAWN times or more are learned from (one
drawing of a digit shows that drawing, not the writer's style: refits on a single round cost some
validation writers 1-4 points); the drawings of the other digits are kept reading as trained, so that the
digits learned do not pull them (halfway through a second round, without this, the perceptron lost a
validation writer 3.5 points). Labels that contradict the drawings (the batch-norm CNN as trained reads
fewer than AGREEMENT of them as labelled) teach nothing. The method, REPLAY_WEIGHT and PULL were chosen on
half of the held-out UNIPEN writers (docs/adapt_runs.md); `python -m benchmarks.adapt` measures the other
half. Deterministic. `python -m digitpad.adapt` writes the replayed digits (weights/replay.npz).

Public contract: `adapt_models(predictor, images, labels).predict(images) -> {key: (N, 10)}`.
"""

import argparse
import functools
import hashlib
from pathlib import Path
from typing import NamedTuple

import numpy as np
from scipy import ndimage, sparse
from scipy.optimize import minimize
from threadpoolctl import threadpool_limits

from digitpad.catalog import MODEL_NAMES

# numpy and scipy each load an OpenBLAS of their own, each with a thread per core. A refit calls them in
# turn on small matrices (numpy for the loss, scipy's L-BFGS for the step), and the two pools' threads,
# left spinning after each call, took the cores from each other: a refit of the perceptron's last layer
# took 250 ms on this 2-core machine, 25 ms with one BLAS thread. Nothing this process multiplies is
# large enough to gain from more (TensorFlow has threads of its own).
threadpool_limits(limits=1, user_api="blas")

MAX_DRAWINGS = 200  # the latest this many labelled drawings count (a visitor's adaptation stays small)
# How hard each model's last layer is pulled back to its trained weights (chosen on validation writers).
PULL = {key: 0.003 for key in MODEL_NAMES}
ITERATIONS = 15  # L-BFGS iterations at most: from the trained weights, the refit reads as it would after more
MIN_DRAWN = 2  # a digit is learned from once the visitor has drawn it this many times
REPLAY_FILE = "replay.npz"  # training digits the refit keeps reading as trained (`python -m digitpad.adapt`)
REPLAY_PER_DIGIT = 30  # of each digit, from UNIPEN's training writers, read as the pad reads them
REPLAY_WEIGHT = 3.0  # the replayed digits, all together, against the visitor's drawings' 1
JUDGE = "cnn_batchnorm"  # the model as trained that must read ...
AGREEMENT = 0.5  # ... this share of the drawings as labelled (labels that contradict the drawings teach nothing)
VARIANTS_UP_TO = 30  # drawings: fewer are each also seen in VARIANTS (more would only cost time)
# (rotation in degrees, scale, shift in px) of each drawing's variants: writers' own small wobbles
VARIANTS = [(-10, 1, (0, 0)), (10, 1, (0, 0)), (0, 0.9, (0, 0)), (0, 1.1, (0, 0)),
            (0, 1, (1, 0)), (0, 1, (-1, 0)), (0, 1, (0, 1)), (0, 1, (0, -1))]
# The perceptron's last layer reads the pixels themselves: its features are remade from the drawings (a
# fraction of a millisecond), where the others' are kept from one adaptation to the next (`Adapted.kept`).
READS_PIXELS = {"perceptron"}
KEPT = [key for key in MODEL_NAMES if key not in READS_PIXELS]


class AdaptError(ValueError):
    """The drawings cannot adapt the models; the message is meant for the visitor."""


class Head(NamedTuple):
    kernel: np.ndarray  # (d, 10) float32
    bias: np.ndarray  # (10,) float32

    def probabilities(self, features):
        logits = np.asarray(features, np.float32) @ self.kernel + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)


def check(images, labels):
    """(images (N, 28, 28) float32, labels (N,) int64), the latest MAX_DRAWINGS; AdaptError says what is wrong."""
    images = np.asarray(images, np.float32)
    labels = np.asarray(labels)
    if images.ndim == 2 and images.shape == (28, 28):
        images = images[None]
    if images.ndim != 3 or images.shape[1:] != (28, 28) or len(images) != len(labels):
        raise AdaptError("Adaptation takes the 28x28 drawings and one label each.")
    if not len(labels):
        raise AdaptError("Label a drawing first: take the challenge, or say what a drawing was.")
    if labels.dtype.kind not in "iu" or labels.min() < 0 or labels.max() > 9:
        raise AdaptError("Labels are the digits 0 to 9.")
    images, labels = images[-MAX_DRAWINGS:], labels[-MAX_DRAWINGS:].astype(np.int64)
    if len(np.unique(labels)) < 2:
        raise AdaptError("Label drawings of at least two different digits to adapt the models.")
    return images, labels


def refit(features, targets, weights, trained: Head, pull, replay=None) -> Head:
    """The last layer refitted to read (features) as (targets, probabilities), each row weighing as `weights`
    says, pulled toward `trained`; `replay`: (features, probabilities) of training digits it keeps reading as
    `trained` reads them, weighing REPLAY_WEIGHT all together."""
    features = np.asarray(features, np.float32)
    # The pull is relative to the features' scale, so one PULL means the same for 784 pixels and 32 units.
    strength = pull * float(np.mean(np.sum(np.square(features, dtype=np.float64), axis=1))) / features.shape[1]
    targets, weights = np.asarray(targets, np.float32), np.asarray(weights, np.float32)
    if replay is not None:
        features = np.concatenate([features, replay[0]])
        targets = np.concatenate([targets, replay[1]])
        weights = np.concatenate([weights, np.full(len(replay[0]), REPLAY_WEIGHT / len(replay[0]), np.float32)])
    # A feature that is zero on every row (a corner pixel, a silent unit) leaves its weights where they
    # were trained: only the pull moves them, and it holds them there. Left out, the refit is the same and
    # faster.
    used = np.flatnonzero(features.any(axis=0))
    features = np.ascontiguousarray(features[:, used])
    d = len(used)
    start = np.concatenate([trained.kernel[used].ravel(), trained.bias]).astype(np.float64)

    def loss(theta):  # in float32 (twice as fast, the same refit within 1e-4); L-BFGS steps in float64
        kernel, bias = theta[:d * 10].reshape(d, 10).astype(np.float32), theta[d * 10:].astype(np.float32)
        logits = features @ kernel + bias
        logits -= logits.max(axis=1, keepdims=True)
        log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        delta = theta - start
        value = -float(np.sum(weights * np.sum(targets * log_p, axis=1))) + strength / 2 * delta @ delta
        error = (np.exp(log_p) - targets) * weights[:, None]
        gradient = np.concatenate([(features.T @ error).ravel(), error.sum(axis=0)]) + strength * delta
        return value, gradient

    theta = minimize(loss, start, jac=True, method="L-BFGS-B", options={"maxiter": ITERATIONS}).x
    kernel = trained.kernel.copy()
    kernel[used] = theta[:d * 10].reshape(d, 10)
    return Head(kernel, theta[d * 10:].astype(np.float32))


class Adapted:
    """The five models with their last layers adapted to one visitor's drawings."""

    def __init__(self, predictor, heads, count, changed, scores, kept, unchanged_why=""):
        self.predictor, self.heads, self.count = predictor, heads, count
        self.changed = changed  # {key: whether the model was refitted (a digit drawn MIN_DRAWN times, labels agreed)}
        self.unchanged_why = unchanged_why  # for the visitor, when no model was refitted: why not yet
        self.scores = scores  # {key: ((10,) as trained, (10,) adapted)}: each digit's score on the drawings
        # (digests, (N, copies, D) float16): the features the models in KEPT give each drawing (and its
        # variants, while they are used), for this visitor's next adaptation (`_kept_features`).
        self.kept = kept

    def predict(self, images) -> dict:
        """{key: (N, 10) probabilities} of (N, 28, 28) images, read by the adapted models."""
        return self.apply(self.predictor.features(np.asarray(images, np.float32).reshape(-1, 28, 28)))

    def apply(self, features) -> dict:
        """{key: (N, 10)} from the features the models' last layers read ({key: (N, d)}, or (d,) each)."""
        return {key: self.heads[key].probabilities(np.atleast_2d(features[key])) for key in MODEL_NAMES}


def variants(images):
    """(N, 1 + len(VARIANTS), 28, 28): each of (N, 28, 28) drawings and its slightly rotated, scaled and
    shifted copies."""
    images = np.asarray(images, np.float32)
    return (images.reshape(-1, 784) @ _variant_maps()).reshape(len(images), 1 + len(VARIANTS), 28, 28)


@functools.cache
def _variant_maps():
    """(784, 784 (1 + len(VARIANTS))) sparse: each variant is a linear map of the pixels, made once by
    moving every pixel of the 28x28 grid on its own (ndimage, bilinear); a drawing's nine copies are then
    one product (0.2 ms for 30 drawings, where an affine_transform a copy took 13)."""
    pixels = np.eye(784, dtype=np.float32).reshape(784, 28, 28)
    centre = np.array([13.5, 13.5])
    maps = [sparse.identity(784, np.float32, format="csr")]
    for degrees, scale, shift in VARIANTS:
        angle = np.deg2rad(degrees)
        matrix = np.eye(3)  # the first axis is the pixel moved, left as it is
        matrix[1:, 1:] = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]) / scale
        offset = np.concatenate([[0], centre - matrix[1:, 1:] @ (centre + shift)])
        maps.append(sparse.csr_matrix(ndimage.affine_transform(pixels, matrix, offset, order=1).reshape(784, 784)))
    return sparse.hstack(maps, format="csr")


def adapt_models(predictor, images, labels, reuse=None) -> Adapted:
    """The five models adapted to a visitor's labelled (N, 28, 28) drawings (as `preprocess` makes them),
    learning from the digits drawn MIN_DRAWN times or more; with none such, or labels the drawings
    contradict, every model stays as trained (`Adapted.changed` says). `reuse`: this visitor's previous
    adaptation, whose kept features spare running the models on drawings it has seen (the result is the
    same as without it)."""
    images, labels = check(images, labels)
    copies = 1 + len(VARIANTS) if len(labels) <= VARIANTS_UP_TO else 1
    seen = variants(images) if copies > 1 else images[:, None]
    trained = {key: Head(*head) for key, head in predictor.heads().items()}
    kept = _kept_features(predictor, images, copies, reuse.kept if reuse is not None else None)
    parts = np.split(kept[1].reshape(len(images) * copies, -1),
                     np.cumsum([trained[key].kernel.shape[0] for key in KEPT])[:-1], axis=1)
    features = dict(zip(KEPT, parts)) | {key: seen.reshape(-1, 784) for key in READS_PIXELS}
    drawing = np.repeat(np.arange(len(labels)), copies)  # which drawing each image is
    as_drawn = np.arange(len(drawing)) % copies == 0
    learned = (np.bincount(labels, minlength=10) >= MIN_DRAWN)[labels][drawing]  # rows of digits drawn enough
    agree = _read_right(trained[JUDGE], features[JUDGE][as_drawn], labels) >= AGREEMENT * len(labels)
    if not learned.any():
        unchanged_why = "one drawing of a digit shows that drawing, not your style; draw each digit twice or more"
    elif not agree:
        unchanged_why = "the labels do not match the drawings, which teaches nothing"
    else:
        unchanged_why = ""
    if unchanged_why:
        heads = trained
    else:
        replay = replayed(predictor)
        # Each digit drawn weighs a tenth, however often it was drawn: the digits learned teach with the
        # labels, those drawn too few times to learn from keep being read as trained (a refit on a few digits
        # would otherwise pull the visitor's other digits toward them).
        rows = labels[drawing]
        weights = 1.0 / (10 * np.bincount(rows, minlength=10)[rows])
        said = np.eye(10)[rows]
        heads = {key: refit(features[key], np.where(learned[:, None], said, trained[key].probabilities(features[key])),
                            weights, trained[key], PULL[key], replay[key])
                 for key in MODEL_NAMES}
    scores = {key: (_digit_scores(trained[key], features[key][as_drawn], labels),
                    _digit_scores(heads[key], features[key][as_drawn], labels)) for key in MODEL_NAMES}
    return Adapted(predictor, heads, len(labels), {key: heads[key] is not trained[key] for key in MODEL_NAMES},
                   scores, kept, unchanged_why)


@functools.cache
def replayed(predictor):
    """{key: (features (n, d) float32, probabilities as trained (n, 10))} of the replayed training digits,
    run once a predictor (40 ms)."""
    path = Path(predictor.weights_dir) / REPLAY_FILE
    if not path.exists():
        raise AdaptError(f"The adaptation needs {path} (the training digits it keeps reading as trained): "
                         "run python -m digitpad.adapt.")
    with np.load(path) as saved:
        images = saved["images"].astype(np.float32) / 255.0
    features = predictor.features(images)
    heads = predictor.heads()
    return {key: (features[key].astype(np.float32), Head(*heads[key]).probabilities(features[key]))
            for key in MODEL_NAMES}


def _kept_features(predictor, images, copies, kept):
    """(digests, (N, copies, D) float16): for each drawing, the features the models other than READS_PIXELS
    give it and its variants (the first `copies`), side by side in MODEL_NAMES' order; from `kept` (a
    previous adaptation's) where it holds the drawing, else from running the models. Each drawing is run
    on its own and always with all its variants: TensorFlow's sums differ in the last bits with the batch,
    and a drawing's features must be the same whichever adaptation ran them, so that one made reusing them
    is the one made from nothing. Half precision keeps a visitor's adaptation within 200 KB."""
    digests = tuple(hashlib.blake2b(image.tobytes(), digest_size=16).digest() for image in images)
    found = {}
    if kept is not None and kept[1].shape[1] >= copies:
        found = {digest: row[:copies] for digest, row in zip(*kept)}
    for digest, image in zip(digests, images):
        if digest not in found:
            ran = predictor.features(variants(image[None])[0])
            found[digest] = np.concatenate([ran[key][:copies] for key in KEPT], axis=1).astype(np.float16)
    return digests, np.stack([found[digest] for digest in digests])


def _read_right(head, features, labels):
    return int((head.probabilities(features).argmax(axis=1) == labels).sum())


def _digit_scores(head, features, labels):
    """(10,) the mean probability of the right digit over the drawings of each digit (nan: none drawn)."""
    right = head.probabilities(features)[np.arange(len(labels)), labels]
    return np.array([right[labels == d].mean() if (labels == d).any() else np.nan for d in range(10)])


def main(argv=None):
    """Write REPLAY_FILE: REPLAY_PER_DIGIT training pen digits of each digit, read as the pad reads them."""
    from digitpad import unipen

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--data-dir", help="folder holding unipen.npz (default: $DIGITPAD_DATA or ../shared/data)")
    parser.add_argument("--weights-dir", default="weights")
    args = parser.parse_args(argv)
    train, _ = unipen.split(unipen.load(args.data_dir))
    rng = np.random.default_rng(0)
    chosen = np.concatenate([rng.choice(np.flatnonzero(train.labels == d), REPLAY_PER_DIGIT, replace=False)
                             for d in range(10)])
    images = unipen.read([train.strokes[i] for i in chosen])
    np.savez_compressed(Path(args.weights_dir) / REPLAY_FILE, images=np.round(images * 255).astype(np.uint8),
                        labels=train.labels[chosen])
    print(f"{len(chosen)} training pen digits written to {Path(args.weights_dir) / REPLAY_FILE}")


if __name__ == "__main__":
    main()
