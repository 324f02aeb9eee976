"""The training input pipeline: stroke variation, the share of stroke-normalised digits, labels kept."""

import numpy as np
import pytest
import tensorflow as tf

from digitpad import data


@pytest.fixture(scope="module")
def digits():
    with np.load("tests/fixtures/mnist_test_sample.npz") as sample:
        return (sample["x"][:256] / 255.0).astype(np.float32), sample["y"][:256].astype(np.int64)


def test_vary_strokes_keeps_or_thickens_or_thins_each_digit(digits):
    images = tf.constant(digits[0][..., None])
    thicker = tf.nn.max_pool2d(images, 2, 1, "SAME").numpy()  # 2x2 dilation, the reference
    thinner = -tf.nn.max_pool2d(-images, 2, 1, "SAME").numpy()
    varied = data.vary_strokes(images).numpy()
    kinds = []
    for i in range(len(varied)):
        same = [np.array_equal(varied[i], ref[i]) for ref in (images.numpy(), thicker, thinner)]
        assert any(same), f"digit {i} is neither kept, thickened nor thinned"
        kinds.append(same.index(True))
    counts = np.bincount(kinds, minlength=3) / len(kinds)
    assert 0.65 < counts[0] < 0.85 and counts[1] > 0.05 and counts[2] > 0.05  # a quarter varied


@pytest.mark.parametrize("share", [0.0, 0.25, 1.0])
def test_normalised_share_is_the_share_of_digits_shown_normalised(share):
    # Raw digits all 0, "normalised" ones all 1: the mean of each image says which one was picked.
    count = 4096
    raw, normalised = np.zeros((count, 28, 28), np.float32), np.ones((count, 28, 28), np.float32)
    labels = np.arange(count) % 10
    picked, seen_labels = [], []
    for images, batch_labels, _ in data.training_pipeline(raw, labels, normalised, augment=0, normalised_share=share):
        picked.append(images.numpy().mean(axis=(1, 2)))
        seen_labels.append(batch_labels.numpy())
    picked = np.concatenate(picked)
    assert set(np.unique(picked)) <= {0.0, 1.0}
    assert picked.mean() == pytest.approx(share, abs=0.03)
    assert sorted(np.concatenate(seen_labels)) == sorted(labels)  # every digit once per epoch


def test_augmented_batches_keep_labels_and_range(digits):
    x, y = digits
    batches = list(data.training_pipeline(x, y, x, augment=0.5, normalised_share=0.25))
    images = np.concatenate([b[0].numpy() for b in batches])
    assert images.shape == x.shape and images.dtype == np.float32
    assert images.min() >= 0.0 and images.max() <= 1.0
    assert sorted(np.concatenate([b[1].numpy() for b in batches])) == sorted(y)
    assert not np.array_equal(np.sort(images.sum(axis=(1, 2))), np.sort(x.sum(axis=(1, 2))))  # it did change them


def test_pen_digits_show_once_an_epoch_as_one_of_their_renderings_with_their_weight():
    # Rendering k of digit i is filled with 60 k + i % 50: its level says which rendering was shown.
    count, renderings = 300, 4
    x = np.zeros((10, 28, 28), np.float32)
    pen_x = (np.arange(count)[:, None, None, None] % 50 + 60 * np.arange(renderings)[None, :, None, None]
             + np.zeros((1, 1, 28, 28))).astype(np.uint8)
    pen_y, weights = np.arange(count) % 10, np.linspace(0.1, 1, count).astype(np.float32)
    shown = list(data.training_pipeline(x, np.zeros(10, np.int64), augment=0, normalised_share=0,
                                        pen=(pen_x, pen_y, weights)))
    images = np.concatenate([b[0].numpy() for b in shown])
    batch_weights = np.concatenate([b[2].numpy() for b in shown])
    assert len(images) == count + 10
    assert sorted(batch_weights) == sorted(np.concatenate([weights, np.ones(10, np.float32)]))
    levels = np.round(images.mean(axis=(1, 2)) * 255)[batch_weights < 1]
    assert len(np.unique((levels // 60).astype(int))) == renderings  # each digit as one of its renderings
