"""Is a drawing like the digits the models were trained on? A test that does not trust the softmax.

Softmax always picks a class, and often with full confidence for a spiral. Two measures, each with
limits chosen on validation digits (half of the held-out UNIPEN writers: the value that FALSE_FLAGS of
them exceed):

- how far the batch-norm CNN's last hidden layer (128 units, what its last layer reads) is from every
  digit class: the Mahalanobis distance to the nearest class mean (class means and one shared
  covariance fitted on the training digits). It catches what the models have never seen the like of
  (letters, say), but a spiral or a scribble, thinned and redrawn in 20 px, lands among the 0s;
- the pen's path, for the pad's strokes (what the 28x28 no longer shows): its length against the
  drawing's size, how much it turns (in full turns, on the path resampled every SPACING of the size),
  its sharp corners, and how many long straight strokes run parallel (hatching). No digit is drawn
  with more than two parallel straight strokes (measured: none of the 3,113 held-out digits).

`python -m digitpad.novelty` fits both and writes weights/novelty.npz (committed with the weights;
fit again after retraining).
"""

import argparse
from pathlib import Path

import numpy as np

KEY = "cnn_batchnorm"  # whose features are measured
FILE = "novelty.npz"
FALSE_FLAGS = 0.0025  # of the validation digits, flagged "not a digit" by each limit
SPACING = 0.04  # of the drawing's size: the path's step when its turning and corners are measured
MAX_PARALLEL = 2  # long straight strokes running parallel in one digit (a 7's bar and its cross)
RIDGE = 1e-3  # added to the covariance's diagonal (relative to its mean variance): a stable inverse


class Novelty:
    """distance(features) and is_digit(features, strokes) of the committed statistics."""

    def __init__(self, means, precision, threshold, path_limits=(np.inf, np.inf, np.inf)):
        self.means, self.precision, self.threshold = means, precision, float(threshold)
        self.path_limits = np.asarray(path_limits, float)  # length, turning, corners
        # precision = L L^T: the distance is a plain one after multiplying by L (0.02 ms a drawing, not 0.2)
        self._factor = np.linalg.cholesky(np.asarray(precision, np.float64))
        self._means = np.asarray(means, np.float64) @ self._factor

    @classmethod
    def load(cls, weights_dir="weights"):
        path = Path(weights_dir) / FILE
        if not path.exists():
            return None
        with np.load(path) as stored:
            limits = stored["path_limits"] if "path_limits" in stored.files else (np.inf, np.inf, np.inf)
            return cls(stored["means"], stored["precision"], stored["threshold"], limits)

    def path_is_digit(self, strokes):
        """Does the pen's path (the pad's strokes) look like a digit's?"""
        shape = path_shape(strokes)
        return bool((shape[:3] <= self.path_limits).all() and shape[3] <= MAX_PARALLEL)

    def distance(self, features):
        """(N,) Mahalanobis distance of (N, 128) features (or one (128,)) to the nearest class mean."""
        projected = np.atleast_2d(np.asarray(features, np.float64)) @ self._factor
        squared = ((projected[:, None, :] - self._means[None]) ** 2).sum(axis=2)  # (N, 10)
        return np.sqrt(squared.min(axis=1))

    def is_digit(self, features):
        return self.distance(features) <= self.threshold


def path_shape(strokes):
    """(length, turning, corners, parallel) of a drawing's pen strokes (a list of (N, 2) point arrays):
    the path's length over the size of its box, its absolute turning in full turns, its sharp corners
    (the direction turning more than 135 degrees within three steps), and the most long straight
    strokes running parallel (within 15 degrees)."""
    strokes = [np.asarray(s, float) for s in strokes if len(s) >= 2]
    if not strokes:
        return np.zeros(4)
    size = max(float(np.ptp(np.concatenate(strokes), axis=0).max()), 1e-9)
    length = turning = corners = 0.0
    straight = []
    for stroke in strokes:
        steps = np.hypot(*np.diff(stroke, axis=0).T)
        along = np.concatenate([[0], np.cumsum(steps)])
        length += along[-1]
        if along[-1] > 0.5 * size and np.hypot(*(stroke[-1] - stroke[0])) > 0.9 * along[-1]:
            straight.append(np.arctan2(*(stroke[-1] - stroke[0])[::-1]) % np.pi)
        count = int(along[-1] / (SPACING * size))
        if count < 2:
            continue
        at = np.linspace(0, along[-1], count + 1)
        path = np.stack([np.interp(at, along, stroke[:, 0]), np.interp(at, along, stroke[:, 1])], axis=1)
        heading = np.arctan2(*np.diff(path, axis=0).T[::-1])
        turning += np.abs((np.diff(heading) + np.pi) % (2 * np.pi) - np.pi).sum()
        if len(heading) > 3:
            sharp = np.abs((heading[3:] - heading[:-3] + np.pi) % (2 * np.pi) - np.pi) > np.deg2rad(135)
            corners += int((np.diff(np.concatenate([[0], sharp.astype(int)])) == 1).sum())
    parallel = max((sum(min(abs(a - b), np.pi - abs(a - b)) < np.deg2rad(15) for b in straight) for a in straight),
                   default=0)
    return np.array([length / size, turning / (2 * np.pi), corners, parallel])


def fit(features, labels):
    """(means (10, d), precision (d, d)) of training features: class means and the shared covariance."""
    features = np.asarray(features, np.float64)
    means = np.stack([features[labels == d].mean(axis=0) for d in range(10)])
    centred = features - means[labels]
    covariance = centred.T @ centred / len(features)
    covariance += RIDGE * np.trace(covariance) / len(covariance) * np.eye(len(covariance))
    return means, np.linalg.inv(covariance)


def main(argv=None):
    from digitpad import data, preprocess, unipen
    from digitpad.inference import Predictor

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="local MNIST .npz (default: $DIGITPAD_MNIST or ../shared/data/mnist.npz)")
    parser.add_argument("--data-dir", help="folder holding unipen.npz (default: $DIGITPAD_DATA or ../shared/data)")
    parser.add_argument("--weights-dir", default="weights")
    args = parser.parse_args(argv)
    predictor = Predictor(args.weights_dir)
    (x_train, y_train), _ = data.split_validation(*data.load_mnist(args.data)[0])
    train, validation = unipen.split(unipen.load(args.data_dir))
    print(f"Reading {len(train.labels):,} training pen digits and {len(validation.labels):,} held-out ones ...")
    pen_x, val_x = unipen.read(train.strokes), unipen.read(validation.strokes)
    features = np.concatenate([predictor.features(x_train)[KEY], predictor.features(pen_x)[KEY]])
    labels = np.concatenate([y_train, train.labels])
    means, precision = fit(features, labels)
    novelty = Novelty(means, precision, 0)
    chosen = np.array([unipen.writer_half(w) == "validation" for w in validation.writers])
    distances = novelty.distance(predictor.features(val_x)[KEY])
    threshold = float(np.quantile(distances[chosen], 1 - FALSE_FLAGS))
    shapes = np.array([path_shape(preprocess.fit_strokes(s)["strokes"]) for s in validation.strokes])
    limits = np.quantile(shapes[chosen, :3], 1 - FALSE_FLAGS, axis=0)
    novelty = Novelty(means, precision, threshold, limits)
    flagged = (distances > threshold) | ~np.array([novelty.path_is_digit(preprocess.fit_strokes(s)["strokes"])
                                                   for s in validation.strokes])
    print(f"threshold {threshold:.2f}, path limits {np.round(limits, 2)}: flags {flagged[chosen].mean():.2%} of the "
          f"validation half, {flagged[~chosen].mean():.2%} of the other half of the held-out writers")
    np.savez_compressed(Path(args.weights_dir) / FILE, means=means.astype(np.float32),
                        precision=precision.astype(np.float32), threshold=threshold, path_limits=limits)


if __name__ == "__main__":
    main()
