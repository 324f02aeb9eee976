"""Predictor: five models at once, and a clear message instead of a traceback for bad input."""

import shutil

import numpy as np
import pytest
from PIL import Image, ImageDraw

from digitpad import drawn
from digitpad.catalog import MODEL_NAMES, check_weight_files
from digitpad.inference import Predictor, WeightsError


def canvas_of(digit, **kwargs):
    return np.asarray(drawn.draw(digit, **{"brush": 28, "height": 0.6, **kwargs}))


def test_all_five_models_answer(predictor, digits):
    prediction = predictor.predict(canvas_of(digits[7]))
    assert list(prediction.probabilities) == MODEL_NAMES
    for key, p in prediction.probabilities.items():
        assert p.shape == (10,) and abs(p.sum() - 1) < 1e-4
    assert prediction.probabilities["cnn_batchnorm"].argmax() == 7
    assert prediction.image.shape == (28, 28) and prediction.message == ""


def test_first_layer_activations(predictor, digits):
    canvas = canvas_of(digits[0])
    assert predictor.predict(canvas).layers == {}  # only asked for, so the API does not pay for them
    shapes = {"cnn": (28, 28, 12), "cnn_batchnorm": (28, 28, 12), "mlp": (128,), "perceptron": (10,)}
    for key, shape in shapes.items():
        prediction = predictor.predict(canvas, layers_of=key)
        assert list(prediction.layers) == [key] and prediction.first_layer(key).shape == shape
    # Every conv block is there for the CNNs, first to last.
    prediction = predictor.predict(canvas, layers_of="cnn_batchnorm")
    assert [a.shape for _, a in prediction.layers["cnn_batchnorm"]] == [(28, 28, 12), (14, 14, 24), (7, 7, 32)]
    # The fused function and the Keras model agree.
    direct = predictor.models["mlp"].predict(prediction.image[None], verbose=0)[0]
    assert np.allclose(direct, prediction.probabilities["mlp"], atol=1e-5)


def test_a_lifted_pens_reading_holds_every_models_saliency(predictor, digits):
    """The drawings whose layers are kept ("Inside a model" shows them) are read with each model's
    saliency for its own answer, in the same call: the same as computed alone."""
    canvas = canvas_of(digits[3])
    assert predictor.predict(canvas).saliency == {}  # the API and the moving pen do not pay for it
    prediction = predictor.predict(canvas, layers_of=MODEL_NAMES)
    for key in MODEL_NAMES:
        alone = predictor.saliency(key, prediction.image, int(prediction.probabilities[key].argmax()))
        assert alone.max() > 0 and np.allclose(prediction.saliency[key], alone, atol=1e-3 * alone.max())


def test_saliency_highlights_the_drawn_pixels(predictor, digits):
    image = predictor.predict(canvas_of(digits[3])).image
    for key in ("perceptron", "cnn_batchnorm"):
        saliency = predictor.saliency(key, image, 3)
        assert saliency.shape == (28, 28) and saliency.max() > 0
        inked = image > 0.2
        assert saliency[~inked].sum() < 0.1 * saliency.sum()  # gradient x input is zero where nothing is drawn


def side_by_side(a, b):
    return np.concatenate([canvas_of(a, place=(0, 0.5)), canvas_of(b, place=(1, 0.5))], axis=1)


@pytest.mark.parametrize(
    "name, make, message",
    [
        ("empty canvas", lambda d: np.zeros((800, 800, 4), np.uint8), "Draw a digit"),
        ("whole canvas black", lambda d: np.dstack([np.zeros((800, 800, 3), np.uint8), np.full((800, 800), 255, np.uint8)]),
         "Draw a digit"),
        ("1x1 image", lambda d: np.zeros((1, 1, 4), np.uint8), "1x1"),
        ("tiny dot", lambda d: np.asarray(_dot()), "too small"),
    ],
)
def test_no_prediction_but_a_message(predictor, digits, name, make, message):
    prediction = predictor.predict(make(digits))
    assert prediction.probabilities == {} and message in prediction.message, name


def _dot():
    image = Image.new("RGBA", (800, 800), (0, 0, 0, 0))
    ImageDraw.Draw(image).ellipse((400, 400, 410, 410), fill=(0, 0, 0, 255))
    return image


@pytest.mark.parametrize(
    "name, make",
    [
        ("touching the edges", lambda d: canvas_of(d[2], height=1.0, place=(0, 0), brush=12)),
        ("4000x4000 upload", lambda d: np.asarray(drawn.draw(d[2], brush=120, height=0.6, size=4000))),
        ("grayscale", lambda d: 255 - canvas_of(d[2])[..., 3]),
        ("rgb without alpha", lambda d: np.repeat((255 - canvas_of(d[2])[..., 3])[..., None], 3, axis=2)),
        ("semi-transparent strokes", lambda d: canvas_of(d[2]) // np.array([1, 1, 1, 3], np.uint8)),
        ("16-bit", lambda d: (255 - canvas_of(d[2])[..., 3]).astype(np.uint16) * 257),
        ("float", lambda d: 1.0 - canvas_of(d[2])[..., 3] / 255.0),
        ("white ink on black", lambda d: canvas_of(d[2])[..., 3]),
        ("pil image", lambda d: drawn.draw(d[2], brush=28, height=0.6)),
    ],
)
def test_unusual_images_still_read_right(predictor, digits, name, make):
    prediction = predictor.predict(make(digits))
    assert prediction.message == "", name
    assert prediction.probabilities["cnn_batchnorm"].argmax() == 2, name


def test_two_digits_get_an_answer(predictor, digits):
    prediction = predictor.predict(side_by_side(digits[3], digits[8]))
    assert len(prediction.probabilities) == 5  # an answer; whether it is sure is shown in the UI


def test_predictor_keeps_working_after_bad_input(predictor, digits):
    for bad in (None, "text", np.zeros((3, 3)), np.zeros((10, 10, 9), np.uint8)):
        assert predictor.predict(bad).message
    assert predictor.predict(canvas_of(digits[1])).probabilities["cnn_batchnorm"].argmax() == 1


def test_missing_weight_file_is_named(tmp_path):
    with pytest.raises(WeightsError, match="perceptron.keras"):
        Predictor(tmp_path)


def test_corrupted_weight_file_is_named(tmp_path):
    from tests.conftest import ROOT

    for key in MODEL_NAMES:
        shutil.copy(ROOT / "weights" / f"{key}.keras", tmp_path)
    (tmp_path / "cnn.keras").write_bytes(b"not a keras file")
    with pytest.raises(WeightsError, match="cnn.keras"):
        Predictor(tmp_path)


def test_damaged_archive_is_caught_before_loading_tensorflow_models(tmp_path):
    from tests.conftest import ROOT

    for key in MODEL_NAMES:
        shutil.copy(ROOT / "weights" / f"{key}.keras", tmp_path)
    check_weight_files(tmp_path)  # the committed files pass
    damaged = bytearray((tmp_path / "cnn_batchnorm.keras").read_bytes())
    middle = len(damaged) // 2
    damaged[middle : middle + 64] = bytes(64)  # a zeroed block inside the weights: a checksum error
    (tmp_path / "cnn_batchnorm.keras").write_bytes(bytes(damaged))
    with pytest.raises(WeightsError, match="cnn_batchnorm.keras"):
        check_weight_files(tmp_path)
