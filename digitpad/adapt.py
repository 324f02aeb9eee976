"""Teach the models your handwriting: each model's last layer refitted to one visitor's labelled drawings.

The errors left on pen-written digits are mostly styles (a 1 with a long flag, a crossed 7, a slashed
0), and a style belongs to a writer. Each of the five models keeps everything it learned but its last
Dense layer, which is refitted on the visitor's labelled drawings (each also slightly rotated, scaled
and shifted: VARIANTS), pulled toward the weights it was trained with ("biased regularisation",
Kienzle & Chellapilla, ICML 2006):

    minimise  mean over the drawings (each digit weighing the same) of cross-entropy
              + PULL / 2 * (|W - W_trained|^2 + |b - b_trained|^2) * (scale of the features)

by L-BFGS from the trained weights. Do no harm: a model is adapted only when the refit, made without
some of the visitor's drawings, reads those drawings better than the model as trained (GATE more
right, over FOLDS folds of the drawings of digits drawn at least twice, and at least AGREEMENT of
them); otherwise it stays as trained. So one drawing of each digit never changes a model (nothing to check it on), and a refit
that would hurt is not used. The method and PULL were chosen on half of the held-out UNIPEN writers
(docs/adapt_runs.md); `python -m benchmarks.adapt` measures the other half. Deterministic.

Public contract: `adapt_models(predictor, images, labels).predict(images) -> {key: (N, 10)}`.
"""

import functools
import hashlib
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
ITERATIONS = 25  # L-BFGS iterations at most: from the trained weights, the refit has converged by then
FOLDS = 2  # the check holds out every other drawing of each digit in turn
GATE = 1  # the held-out drawings the refit must read right beyond the trained model's, to be used ...
AGREEMENT = 0.5  # ... and the share of them it must read right (labels that contradict the drawings teach nothing)
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


def refit(features, labels, trained: Head, pull) -> Head:
    """The last layer refitted on (features, labels), pulled toward `trained`."""
    features = np.asarray(features, np.float32)
    # The pull is relative to the features' scale, so one PULL means the same for 784 pixels and 32 units.
    strength = pull * float(np.mean(np.sum(np.square(features, dtype=np.float64), axis=1))) / features.shape[1]
    # A feature that is zero on every drawing (a corner pixel, a silent unit) leaves its weights where they
    # were trained: only the pull moves them, and it holds them there. Left out, the refit is the same and
    # faster (the perceptron reads 500-650 of its 784 pixels on three rounds).
    used = np.flatnonzero(features.any(axis=0))
    features = np.ascontiguousarray(features[:, used])
    d = len(used)
    counts = np.bincount(labels, minlength=10)
    weights = (1.0 / counts[labels]).astype(np.float32)
    weights /= weights.sum()  # each digit drawn weighs the same, whatever how often it was drawn
    onehot = np.eye(10, dtype=np.float32)[labels]
    start = np.concatenate([trained.kernel[used].ravel(), trained.bias]).astype(np.float64)

    def loss(theta):  # in float32 (twice as fast, the same refit within 1e-4); L-BFGS steps in float64
        kernel, bias = theta[:d * 10].reshape(d, 10).astype(np.float32), theta[d * 10:].astype(np.float32)
        logits = features @ kernel + bias
        logits -= logits.max(axis=1, keepdims=True)
        log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        delta = theta - start
        value = -float(np.sum(weights * np.sum(onehot * log_p, axis=1))) + strength / 2 * delta @ delta
        error = (np.exp(log_p) - onehot) * weights[:, None]
        gradient = np.concatenate([(features.T @ error).ravel(), error.sum(axis=0)]) + strength * delta
        return value, gradient

    theta = minimize(loss, start, jac=True, method="L-BFGS-B", options={"maxiter": ITERATIONS}).x
    kernel = trained.kernel.copy()
    kernel[used] = theta[:d * 10].reshape(d, 10)
    return Head(kernel, theta[d * 10:].astype(np.float32))


class Adapted:
    """The five models with their last layers adapted to one visitor's drawings."""

    def __init__(self, predictor, heads, count, changed, scores, kept):
        self.predictor, self.heads, self.count = predictor, heads, count
        self.changed = changed  # {key: whether the check let the refit be used}
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


def folds(labels):
    """Fold of each drawing for the check: the k-th drawing of a digit is in fold k mod FOLDS; -1 for
    a digit drawn once (always learned from, never held out: nothing else shows its style)."""
    seen = np.zeros(10, int)
    fold = np.full(len(labels), -1)
    counts = np.bincount(labels, minlength=10)
    parts = max(2, min(FOLDS, counts.max()))
    for i, label in enumerate(labels):
        if counts[label] >= 2:
            fold[i] = seen[label] % parts
        seen[label] += 1
    return fold


def adapt_models(predictor, images, labels, reuse=None) -> Adapted:
    """The five models adapted to a visitor's labelled (N, 28, 28) drawings (as `preprocess` makes them);
    a model the check does not clear stays as trained (`Adapted.changed` says which did). `reuse`: this
    visitor's previous adaptation, whose kept features spare running the models on drawings it has seen
    (the result is the same as without it)."""
    images, labels = check(images, labels)
    copies = 1 + len(VARIANTS) if len(labels) <= VARIANTS_UP_TO else 1
    seen = variants(images) if copies > 1 else images[:, None]
    trained = {key: Head(*head) for key, head in predictor.heads().items()}
    kept = _kept_features(predictor, images, copies, reuse.kept if reuse is not None else None)
    parts = np.split(kept[1].reshape(len(images) * copies, -1),
                     np.cumsum([trained[key].kernel.shape[0] for key in KEPT])[:-1], axis=1)
    features = dict(zip(KEPT, parts)) | {key: seen.reshape(-1, 784) for key in READS_PIXELS}
    drawing = np.repeat(np.arange(len(labels)), copies)  # which drawing each image is
    fold, as_drawn = folds(labels), np.arange(len(drawing)) % copies == 0
    heads = {key: refit(features[key], labels[drawing], trained[key], PULL[key])
             if _check_clears(features[key], labels[drawing], fold[drawing], as_drawn, trained[key], PULL[key])
             else trained[key] for key in MODEL_NAMES}
    scores = {key: (_digit_scores(trained[key], features[key][as_drawn], labels),
                    _digit_scores(heads[key], features[key][as_drawn], labels)) for key in MODEL_NAMES}
    return Adapted(predictor, heads, len(labels), {key: heads[key] is not trained[key] for key in MODEL_NAMES},
                   scores, kept)


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


def _check_clears(features, labels, fold, as_drawn, trained, pull):
    """Does the refit, made without each fold of the drawings in turn, read the drawings held out (as
    drawn) right GATE times more than the model as trained, and AGREEMENT of them right? (`labels`,
    `fold`: of each row of `features`.) When the model as trained reads every drawing that could be held
    out right, no refit can gain: the answer is no, without refitting (most of the time, for the CNNs)."""
    checked = (fold >= 0) & as_drawn
    if _read_right(trained, features[checked], labels[checked]) == checked.sum():
        return False
    gain = right = 0
    for part in sorted(set(fold) - {-1}):
        held = fold == part
        learned = refit(features[~held], labels[~held], trained, pull)
        shown = held & as_drawn
        learned_right = _read_right(learned, features[shown], labels[shown])
        gain, right = gain + learned_right - _read_right(trained, features[shown], labels[shown]), right + learned_right
    return gain >= GATE and right >= AGREEMENT * checked.sum()


def _read_right(head, features, labels):
    return int((head.probabilities(features).argmax(axis=1) == labels).sum())


def _digit_scores(head, features, labels):
    """(10,) the mean probability of the right digit over the drawings of each digit (nan: none drawn)."""
    right = head.probabilities(features)[np.arange(len(labels)), labels]
    return np.array([right[labels == d].mean() if (labels == d).any() else np.nan for d in range(10)])
