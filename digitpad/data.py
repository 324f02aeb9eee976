"""MNIST: loading, the held-out split, augmentation and the tf.data pipelines.

By default MNIST comes from `keras.datasets.mnist.load_data()` (which downloads it once). Offline,
point DIGITPAD_MNIST (or `--data` on the command line) at a local `.npz` of the same format, with
keys x_train, y_train, x_test, y_test.
"""

import os
from multiprocessing import Pool

import keras
import numpy as np
import tensorflow as tf

VALIDATION_SIZE = 5000  # the last 5,000 training digits: never trained on, used to pick the recipe
BATCH_SIZE = 128


def load_mnist(path=None):
    """((x_train, y_train), (x_test, y_test)); images (N, 28, 28) float32 in [0, 1], labels int64."""
    path = path or os.environ.get("DIGITPAD_MNIST")
    if path:
        with np.load(path) as data:
            (x_train, y_train), (x_test, y_test) = (data["x_train"], data["y_train"]), (data["x_test"], data["y_test"])
    else:
        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    return (_scale(x_train), y_train.astype(np.int64)), (_scale(x_test), y_test.astype(np.int64))


def split_validation(x, y):
    """(train, validation) from the training set; the validation part is the last VALIDATION_SIZE."""
    return (x[:-VALIDATION_SIZE], y[:-VALIDATION_SIZE]), (x[-VALIDATION_SIZE:], y[-VALIDATION_SIZE:])


def _scale(images):
    return images.astype(np.float32) / 255.0


def augmenter(strength=1.0, seed=None):
    """Random geometry of a hand-drawn digit: rotation, shear, scale, shift.

    Mild on purpose: `preprocess.to_mnist` already fixes position and size, so only what it
    cannot fix (slant, rotation, a little of scale and centring) is varied. `strength` scales it all.
    (No RandomElasticTransform: in Keras 3.15 it mixes up the images of a batch inside tf.data.)
    """
    return keras.Sequential(
        [
            keras.layers.RandomRotation(0.03 * strength, fill_mode="constant", seed=seed),  # +-11 degrees
            keras.layers.RandomShear(0.15 * strength, 0.05 * strength, fill_mode="constant", seed=seed),
            keras.layers.RandomZoom((-0.08 * strength, 0.08 * strength), fill_mode="constant", seed=seed),
            keras.layers.RandomTranslation(0.04 * strength, 0.04 * strength, fill_mode="constant", seed=seed),
        ],
        name="augment",
    )


def vary_strokes(images):
    """Make a quarter of a batch's strokes a pixel thicker or thinner (grey-level morphology).

    A 2x2 dilation / erosion, written as the max / min of four shifted copies: tf.nn.max_pool2d
    with one channel cost 12 ms a batch on the CPU, this costs well under one.
    """
    padded = tf.pad(images, [[0, 0], [0, 1], [0, 1], [0, 0]], mode="SYMMETRIC")  # edges: as max_pool2d
    height, width = images.shape[1:3]
    shifted = [padded[:, dy : dy + height, dx : dx + width] for dy in (0, 1) for dx in (0, 1)]
    thicker = tf.reduce_max(tf.stack(shifted), axis=0)
    thinner = tf.reduce_min(tf.stack(shifted), axis=0)
    choice = tf.random.uniform([tf.shape(images)[0], 1, 1, 1], 0, 8, dtype=tf.int32)
    return tf.where(choice == 0, thicker, tf.where(choice == 1, thinner, images))


def training_pipeline(x, y, x_normalised=None, augment=1.0, normalised_share=0.25, seed=0, real=None,
                      real_repeats=0, pen=None, pen_repeats=1):
    """Shuffled, augmented batches of (images, labels, sample weights).

    `x_normalised` is the same digits after `preprocess.to_mnist` (strokes redrawn at MNIST's pen
    width): each epoch shows a `normalised_share` of the digits, at random, that way, so the models
    learn both the raw MNIST look and the look of a drawing after preprocessing. `real` is
    (images, labels) of real handwriting already read through `to_mnist`, each shown `real_repeats`
    times an epoch: a few thousand digits next to 55,000 would otherwise hardly count. `pen` is
    (renderings uint8 (N, K, 28, 28), labels, weights) of pen-written digits (`digitpad.unipen`): each
    epoch shows each digit `pen_repeats` times, each time as one of its K renderings picked anew, with
    its writer's weight.
    `augment` is the strength of the geometric augmentation on the 28x28 (0: none), applied to all.
    """
    x_normalised = x if x_normalised is None else x_normalised
    ones = np.ones(len(y), np.float32)
    dataset = tf.data.Dataset.from_tensor_slices((x, x_normalised, y, ones))
    if real is not None and real_repeats:
        real_x, real_y = real
        # Real digits are stroke-normalised already: "raw" and "normalised" are the same picture.
        real_set = tf.data.Dataset.from_tensor_slices((real_x, real_x, real_y, np.ones(len(real_y), np.float32)))
        dataset = dataset.concatenate(real_set.repeat(real_repeats))
    dataset = dataset.cache()
    if pen is not None:
        renderings, pen_y, pen_weights = pen

        def one_rendering(images, label, weight):  # per digit, after the cache: anew each epoch
            image = tf.cast(images[tf.random.uniform([], 0, tf.shape(images)[0], tf.int32)], tf.float32) / 255.0
            return image, image, label, weight

        pen_set = tf.data.Dataset.from_tensor_slices((renderings, pen_y, pen_weights))
        dataset = dataset.concatenate(pen_set.repeat(pen_repeats).map(one_rendering,
                                                                      num_parallel_calls=tf.data.AUTOTUNE))
    size = int(dataset.cardinality())
    dataset = dataset.shuffle(size, seed=seed).batch(BATCH_SIZE)

    # Chosen per digit, but on whole batches: a per-digit map cost 6 ms a batch.
    def pick(raw, normalised, labels, weights):
        chosen = tf.random.uniform([tf.shape(labels)[0], 1, 1]) < normalised_share
        return tf.where(chosen, normalised, raw), labels, weights

    dataset = dataset.map(pick, num_parallel_calls=tf.data.AUTOTUNE)
    if augment:
        geometry = augmenter(augment, seed)

        def distort(images, labels, weights):
            images = geometry(images[..., None], training=True)
            return tf.clip_by_value(vary_strokes(images), 0.0, 1.0)[..., 0], labels, weights

        dataset = dataset.map(distort, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)


def map_in_processes(function, chunks, total, unit):
    """np.concatenate of `function(chunk)` over the chunks, on all cores, with a progress bar of
    `total` `unit`s (for preparing thousands of digits with `preprocess.to_mnist`)."""
    progress = keras.utils.Progbar(total, unit_name=unit)
    results = []
    with Pool() as pool:
        for result in pool.imap(function, chunks):
            results.append(result)
            progress.add(len(result))
    return np.concatenate(results)


def evaluation_pipeline(x, y):
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(1024).cache().prefetch(tf.data.AUTOTUNE)
