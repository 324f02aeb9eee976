"""The committed weights load on their own and reach the accuracy floors."""

import json
from pathlib import Path

import keras
import numpy as np
import pytest

from digitpad import drawn
from digitpad.models import MODEL_NAMES

WEIGHTS = Path(__file__).resolve().parent.parent / "weights"
# Floors on MNIST test digits (issue 3; the fixture is a 600-digit sample of the test set) ...
MNIST_FLOORS = {"perceptron": 0.925, "mlp": 0.98, "mlp_dropout": 0.982, "cnn": 0.973, "cnn_batchnorm": 0.995}
# ... and on drawn canvases rendered from fixture digits by digitpad.drawn.
DRAWN_FLOORS = {"perceptron": 0.82, "mlp": 0.92, "mlp_dropout": 0.93, "cnn": 0.90, "cnn_batchnorm": 0.975}


@pytest.mark.parametrize("key", MODEL_NAMES)
def test_weights_load_alone_and_reach_the_floor(key, mnist_sample):
    model = keras.models.load_model(WEIGHTS / f"{key}.keras")  # no custom objects needed
    x, y = mnist_sample
    accuracy = (model.predict(x, verbose=0).argmax(axis=1) == y).mean()
    assert accuracy >= MNIST_FLOORS[key]


def test_drawn_canvases_reach_the_floors(predictor, mnist_sample):
    from digitpad.preprocess import to_mnist

    x, y = mnist_sample
    count = 300
    images = np.stack([to_mnist(np.asarray(canvas)) for canvas, _ in drawn.canvases(x, y, count, seed=7)])
    probabilities = predictor.predict_batch(images)
    for key in MODEL_NAMES:
        assert (probabilities[key].argmax(axis=1) == y[:count]).mean() >= DRAWN_FLOORS[key], key


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
