"""Pen-written digits (digitpad.unipen): the loader, the writer split, the stroke variations, and the
committed weights on pen-written digits of writers they never trained on.

The fixture, tests/fixtures/unipen_sample.npz, is every tenth digit of UNIPEN's held-out writers
(312 digits, 28 writers; UNIPEN train_r01_v07, International Unipen Foundation, CC BY 4.0; Guyon,
Schomaker, Plamondon, Liberman and Janet, "UNIPEN project of on-line data exchange and recognizer
benchmarks", ICPR 1994), written by `python -m digitpad.unipen --fixture ...`.
"""

import numpy as np
import pytest

from digitpad import preprocess, unipen
from digitpad.catalog import MODEL_NAMES
from tests.test_strokes import browser_like_image

# The committed weights on the fixture, less a margin of two to four digits (measured 2026-12-03:
# 84.9 / 96.2 / 95.8 / 93.6 / 97.1 %; the weights before pen strokes joined training: 83.3 / 94.9 /
# 94.9 / 91.7 / 96.8 %): pen-written digits of writers no model trained on, read as the pad's are.
FLOORS = {"perceptron": 0.845, "mlp": 0.95, "mlp_dropout": 0.95, "cnn": 0.925, "cnn_batchnorm": 0.965}


def test_the_loader_gives_ragged_strokes_labels_and_writers(pen_digits):
    assert len(pen_digits.strokes) == len(pen_digits.labels) == len(pen_digits.writers) == 312
    assert set(pen_digits.labels) == set(range(10))
    counts = [len(strokes) for strokes in pen_digits.strokes]
    assert min(counts) == 1 and max(counts) >= 3  # one to several strokes a digit
    for strokes in pen_digits.strokes[:20]:
        for stroke in strokes:
            assert stroke.ndim == 2 and stroke.shape[1] == 2 and len(stroke) >= 1
    assert all(w.startswith(s + "/") for w, s in zip(pen_digits.writers, pen_digits.sites))


def test_the_fixture_round_trips_through_save(pen_digits, tmp_path):
    unipen.save(pen_digits, tmp_path / "copy.npz")
    copy = unipen.load(tmp_path / "copy.npz")
    assert copy.labels.tolist() == pen_digits.labels.tolist()
    assert all(np.array_equal(a, b) for x, y in zip(copy.strokes, pen_digits.strokes) for a, b in zip(x, y))


def test_the_split_keeps_writers_apart_and_holds_out_a_whole_site():
    writers = np.array([f"{site}/{n:03d}" for site in ("apa", "syn", "uqb", "ibm") for n in range(25) for _ in range(4)])
    sites = np.array([w.split("/")[0] for w in writers])
    held = unipen.held_out(writers, sites)
    assert held[sites == unipen.HELD_OUT_SITE].all()  # the whole site
    others = ~(sites == unipen.HELD_OUT_SITE)
    assert 0.1 < held[others].mean() < 0.35  # about one writer in five of the others
    assert not set(writers[held]) & set(writers[~held])  # no writer on both sides
    assert np.array_equal(held, unipen.held_out(writers, sites))  # the same split every time


def test_the_real_split_keeps_writers_apart():
    try:
        pen = unipen.load()
    except FileNotFoundError as error:
        pytest.skip(str(error))
    train, validation = unipen.split(pen)
    assert not set(train.writers) & set(validation.writers)
    assert unipen.HELD_OUT_SITE not in set(train.sites)
    assert len(train.labels) + len(validation.labels) == len(pen.labels)


def test_writer_weights_cap_prolific_writers():
    writers = np.array(["a/1"] * 600 + ["b/2"] * 10)
    weights = unipen.writer_weights(writers)
    assert weights[:600].sum() == pytest.approx(unipen.WRITER_CAP) and (weights[600:] == 1).all()


def test_varied_strokes_stay_the_same_digit_shape(pen_digits):
    rng = np.random.default_rng(0)
    for strokes in pen_digits.strokes[:30]:
        varied = unipen.vary(strokes, rng)
        assert all(len(s) <= len(o) for s, o in zip(varied, strokes)) and len(varied) == len(strokes)
        original = preprocess.read_strokes(unipen.pad_value(strokes)).image
        changed = preprocess.read_strokes(unipen.pad_value(varied)).image
        assert 0 < np.abs(original - changed).mean() < 0.15  # another hand, the same digit


def test_strokes_and_their_rendered_image_read_to_the_same_28x28(pen_digits):
    """All 312 digits, each drawn independently the way a browser canvas draws (round dabs): the two
    readings differ by about one grey level in a hundred; a few by a skeleton's spur where two
    nearby lines touch in one rendering and not in the other."""
    differences = []
    for strokes in pen_digits.strokes:
        value = unipen.pad_value(strokes)
        from_strokes = preprocess.read_strokes(value).image
        differences.append(np.abs(from_strokes - preprocess.to_mnist(browser_like_image(value))).mean())
    assert np.median(differences) < 0.015 and np.percentile(differences, 95) < 0.03 and max(differences) < 0.08


@pytest.fixture(scope="module")
def pen_images(pen_digits):
    return unipen.read(pen_digits.strokes)


@pytest.mark.parametrize("key", MODEL_NAMES)
def test_committed_weights_read_pen_writers_they_never_saw(predictor, pen_images, pen_digits, key):
    probabilities = predictor.predict_batch(pen_images)[key]
    accuracy = float((probabilities.argmax(axis=1) == pen_digits.labels).mean())
    assert accuracy >= FLOORS[key], f"{key}: {accuracy:.1%} on held-out pen writers"
