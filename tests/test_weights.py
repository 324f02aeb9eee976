"""The committed weights load on their own and reach the accuracy floors."""

import json
import math
from pathlib import Path

import keras
import numpy as np
import pytest

from digitpad import drawn
from digitpad.catalog import MODEL_NAMES

WEIGHTS = Path(__file__).resolve().parent.parent / "weights"
# Floors on the 10,000 MNIST test digits. The fixture is a 600-digit sample of them, so a model's
# accuracy on it wanders around its full-test accuracy: the fixture must reach the floor less three
# standard errors of a 600-digit sample (a model right at the floor fails this 0.1 % of the time;
# at two, cnn_batchnorm, at 99.34 % on the full set, failed with 9 errors in 600), and metrics.json
# (the full test set) the floor itself.
# Real handwriting in training costs MNIST a little; these floors (the real-handwriting issue's)
# guard against breaking it. The perceptron and the plain CNN meet theirs with almost no room (92.04 %
# and 97.00 %): how, and what it costs them, is in docs/real_handwriting_runs.md.
MNIST_FLOORS = {"perceptron": 0.92, "mlp": 0.978, "mlp_dropout": 0.978, "cnn": 0.97, "cnn_batchnorm": 0.992}
# ... and on drawn canvases (digitpad.drawn): 2,000 from the test set in metrics.json, and 300
# rendered here from fixture digits.
DRAWN_FLOORS = {"perceptron": 0.82, "mlp": 0.92, "mlp_dropout": 0.93, "cnn": 0.90, "cnn_batchnorm": 0.975}


def sample_floor(floor, size):
    """The floor less three standard errors of a sample of `size` digits."""
    return floor - 3 * math.sqrt(floor * (1 - floor) / size)


@pytest.mark.parametrize("key", MODEL_NAMES)
def test_weights_load_alone_and_reach_the_floor(key, mnist_sample):
    model = keras.models.load_model(WEIGHTS / f"{key}.keras")  # no custom objects needed
    x, y = mnist_sample
    accuracy = (model.predict(x, verbose=0).argmax(axis=1) == y).mean()
    assert accuracy >= sample_floor(MNIST_FLOORS[key], len(y))
    assert json.loads((WEIGHTS / "metrics.json").read_text())["models"][key]["mnist_accuracy"] >= MNIST_FLOORS[key]


def test_drawn_canvases_reach_the_floors(predictor, mnist_sample):
    from digitpad.preprocess import to_mnist

    x, y = mnist_sample
    count = 300
    images = np.stack([to_mnist(np.asarray(canvas)) for canvas, _ in drawn.canvases(x, y, count, seed=7)])
    probabilities = predictor.predict_batch(images)
    for key in MODEL_NAMES:
        accuracy = (probabilities[key].argmax(axis=1) == y[:count]).mean()
        assert accuracy >= sample_floor(DRAWN_FLOORS[key], count), key
        assert json.loads((WEIGHTS / "metrics.json").read_text())["models"][key]["drawn_accuracy"] >= DRAWN_FLOORS[key]


def test_metrics_are_those_of_the_committed_weights(predictor, mnist_sample):
    metrics = json.loads((WEIGHTS / "metrics.json").read_text())
    x, y = mnist_sample
    probabilities = predictor.predict_batch(x)
    for key in MODEL_NAMES:
        result = metrics["models"][key]
        assert result["parameters"] == predictor.models[key].count_params()
        # The fixture is a sample of the test set the metrics were measured on: same ballpark.
        assert abs((probabilities[key].argmax(axis=1) == y).mean() - result["mnist_accuracy"]) < 0.03
        assert result["drawn_accuracy"] > 0 and result["epochs"] > 0
