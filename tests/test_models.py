"""The five architectures match the reference article layer by layer."""

import keras
import pytest

from digitpad import models
from digitpad.catalog import DISPLAY_NAMES, MODEL_NAMES

L = keras.layers
CONVS = [(12, 3, 1), (24, 6, 2), (32, 6, 2)]


def describe(model):
    """[(layer type, settings that define the architecture)] without the input layer."""
    rows = []
    for layer in model.layers:
        if isinstance(layer, L.InputLayer):
            continue
        if isinstance(layer, L.Dense):
            rows.append(("Dense", layer.units, layer.activation.__name__))
        elif isinstance(layer, L.Conv2D):
            rows.append(("Conv2D", layer.filters, layer.kernel_size[0], layer.strides[0], layer.padding,
                         layer.activation.__name__))
        elif isinstance(layer, L.Dropout):
            rows.append(("Dropout", layer.rate))
        elif isinstance(layer, L.Reshape):
            rows.append(("Reshape", tuple(layer.target_shape)))
        else:
            rows.append((type(layer).__name__,))
    return rows


EXPECTED = {
    "perceptron": [("Flatten",), ("Dense", 10, "softmax")],
    "mlp": [("Flatten",), ("Dense", 128, "relu"), ("Dense", 64, "relu"), ("Dense", 32, "relu"),
            ("Dense", 10, "softmax")],
    "mlp_dropout": [("Flatten",), ("Dense", 128, "relu"), ("Dropout", 0.2), ("Dense", 64, "relu"), ("Dropout", 0.2),
                    ("Dense", 32, "relu"), ("Dropout", 0.2), ("Dense", 10, "softmax")],
    "cnn": [("Reshape", (28, 28, 1))]
    + [("Conv2D", f, k, s, "same", "linear") for f, k, s in CONVS]
    + [("Flatten",), ("Dense", 32, "relu"), ("Dense", 10, "softmax")],
    "cnn_batchnorm": [("Reshape", (28, 28, 1))]
    + [row for f, k, s in CONVS for row in (("Conv2D", f, k, s, "same", "linear"), ("BatchNormalization",), ("ReLU",))]
    + [("Flatten",), ("Dense", 128, "linear"), ("BatchNormalization",), ("ReLU",), ("Dropout", 0.2),
       ("Dense", 10, "softmax")],
}


def test_model_names_in_order():
    assert MODEL_NAMES == ["perceptron", "mlp", "mlp_dropout", "cnn", "cnn_batchnorm"]
    assert list(DISPLAY_NAMES) == MODEL_NAMES
    assert list(models.BUILDERS) == MODEL_NAMES


@pytest.mark.parametrize("key", MODEL_NAMES)
def test_architecture(key):
    model = models.build(key)
    assert describe(model) == EXPECTED[key]
    assert model.input_shape == (None, 28, 28) and model.output_shape == (None, 10)


def test_parameter_counts():
    counts = {key: models.build(key).count_params() for key in MODEL_NAMES}
    assert counts["perceptron"] == 784 * 10 + 10
    assert counts["mlp"] == counts["mlp_dropout"] == (784 * 128 + 128) + (128 * 64 + 64) + (64 * 32 + 32) + 330
    convs = 3 * 3 * 1 * 12 + 6 * 6 * 12 * 24 + 6 * 6 * 24 * 32
    assert counts["cnn"] == convs + 12 + 24 + 32 + (7 * 7 * 32 * 32 + 32) + 330
