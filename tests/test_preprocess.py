"""preprocess.to_mnist: MNIST-style 28x28 from any drawing, whatever its size, place, brush or colours."""

import numpy as np
import pytest
from PIL import Image

from digitpad import drawn
from digitpad.preprocess import DrawingError, read_drawing, to_mnist


def similar(a, b):
    """Correlation of two 28x28 images: 1 for identical pictures."""
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def rgba(digit, **kwargs):
    return np.asarray(drawn.draw(digit, **{"brush": 8, "height": 0.6, **kwargs}))


def test_output_is_mnist_shaped(digits):
    image = to_mnist(rgba(digits[3]))
    assert image.shape == (28, 28) and image.dtype == np.float32
    assert 0.0 <= image.min() and image.max() <= 1.0 and image.max() > 0.9
    # MNIST's frame: the digit fits in 20x20, its centre of mass at the centre.
    rows, cols = np.nonzero(image > 0.05)
    assert max(np.ptp(rows), np.ptp(cols)) + 1 <= 21
    weights = image / image.sum()
    centre = (weights.sum(axis=1) @ np.arange(28), weights.sum(axis=0) @ np.arange(28))
    assert np.allclose(centre, 14.0, atol=0.6)


def test_small_in_a_corner_equals_large_in_the_centre(digits):
    for digit in (digits[2], digits[5], digits[7]):
        small = to_mnist(rgba(digit, height=0.25, place=(0.0, 1.0), brush=4))
        large = to_mnist(rgba(digit, height=0.9, place=(0.5, 0.5), brush=14))
        assert similar(small, large) > 0.85


@pytest.mark.parametrize("brush", [3, 6, 11, 17])  # on the 280 px canvas (8-48 on the old 800)
@pytest.mark.parametrize("height", [0.25, 0.5, 0.9])
def test_brush_width_and_size_do_not_change_the_digit(digits, brush, height):
    reference = to_mnist(rgba(digits[4], brush=8, height=0.6))
    image = to_mnist(rgba(digits[4], brush=brush, height=height, place=(0.2, 0.7)))
    assert similar(reference, image) > 0.85
    # Stroke normalisation: the amount of ink does not follow the brush (MNIST's mean ink is ~0.13).
    assert 0.07 < image.mean() < 0.2


def test_thin_lines_do_not_vanish():
    canvas = Image.new("RGBA", (800, 800), (0, 0, 0, 0))
    from PIL import ImageDraw

    ImageDraw.Draw(canvas).line([(400, 50), (400, 750)], fill=(0, 0, 0, 255), width=2)
    image = to_mnist(np.asarray(canvas))
    assert image.max() > 0.9 and image.sum() > 20


def test_aspect_ratio_is_kept():
    canvas = np.zeros((800, 800), np.uint8)
    canvas[100:700, 380:420] = 255  # a tall bar: a "1"
    image = to_mnist(canvas)
    rows, cols = np.nonzero(image > 0.3)
    assert np.ptp(rows) + 1 >= 18 and np.ptp(cols) + 1 <= 5


def test_colour_formats_and_polarity_agree(digits):
    transparent = rgba(digits[8])  # black ink on a transparent canvas, as the sketchpad sends it
    reference = to_mnist(transparent)
    alpha = transparent[..., 3]
    white_background = 255 - alpha
    variants = {
        "rgb": np.repeat(white_background[..., None], 3, axis=2),
        "gray": white_background,
        "inverted (white ink on black)": alpha,
        "opaque rgba": np.dstack([np.repeat(white_background[..., None], 3, axis=2), np.full_like(alpha, 255)]),
        "float": white_background.astype(np.float32) / 255,
        "uint16": white_background.astype(np.uint16) * 257,
        "bool": alpha > 127,
        "pil": Image.fromarray(white_background),
        "semi-transparent strokes": np.dstack([np.zeros(alpha.shape + (3,), np.uint8), alpha // 2]),
        "sketchpad value": {"background": None, "layers": [transparent], "composite": transparent},
        "sketchpad without composite": {"background": None, "layers": [transparent], "composite": None},
    }
    for name, image in variants.items():
        assert similar(reference, to_mnist(image)) > 0.97, name


def test_empty_canvas_is_all_zero():
    for empty in (np.zeros((800, 800, 4), np.uint8), np.full((800, 800, 3), 255, np.uint8), np.zeros((50, 50))):
        drawing = read_drawing(empty)
        assert drawing.empty and not drawing.image.any()
        assert to_mnist(empty).shape == (28, 28)


def test_unreadable_input_says_why():
    with pytest.raises(DrawingError, match="1x1"):
        to_mnist(np.zeros((1, 1, 3), np.uint8))
    with pytest.raises(DrawingError, match="shape"):
        to_mnist(np.zeros((20, 20, 7), np.uint8))
    with pytest.raises(DrawingError, match="Expected an image"):
        to_mnist("not an image")
