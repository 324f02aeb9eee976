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
  its sharp corners, its zigzags and polygons (corners joining long straight lines, turning left and
  right in turn, or all the same way), and how many long straight strokes run parallel (hatching).
  No digit is drawn with more than two parallel straight strokes (measured: none of the 3,113
  held-out digits), nor with more than MAX_DIGIT_STROKES strokes or a path shorter than its size (dots and dashes),
  nor coils: a stroke that turns more than MAX_COIL full turns the same way without crossing itself is a
  spiral (measured: one of UNIPEN's 13,363 digits, a 6 curled inward; a 0 or an 8 drawn round twice crosses
  its own loop), nor dots: two or more strokes shorter than DOT of its size, a tap or a dash (a smiley's
  eyes; measured: 2 of UNIPEN's 13,363 digits).

`python -m digitpad.novelty` fits both and writes weights/novelty.npz (committed with the weights;
fit again after retraining).
"""

import argparse
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter1d
from skimage.measure import approximate_polygon

KEY = "cnn_batchnorm"  # whose features are measured
FILE = "novelty.npz"
FALSE_FLAGS = 0.0025  # of the validation digits, flagged "not a digit" by each limit
SPACING = 0.04  # of the drawing's size: the path's step when its turning and corners are measured
# Corners between straight lines (zigzags, polygons): each stroke simplified to lines within TOLERANCE
# of the drawing's size (Douglas-Peucker), a corner turning more than CORNER_ANGLE between two lines each
# at least CORNER_LINE long; a stroke ending within CLOSED of its start is closed.
TOLERANCE, CORNER_ANGLE, CORNER_LINE, CLOSED = 0.03, np.deg2rad(50), 0.3, 0.1
MAX_PARALLEL = 2  # long straight strokes running parallel in one digit (a 7's bar and its cross)
# A coil: the most full turns a stroke makes the same way over one stretch, its path smoothed over
# COIL_SMOOTHING steps (a hand's wobble is no turn), where the stroke never crosses itself.
MAX_COIL, COIL_SMOOTHING = 2.0, 1.5
# Dots: strokes whose path is shorter than DOT of the drawing's size (a tap is one). A digit has one at most (a pen
# set down by mistake): 11 of UNIPEN's 13,363 digits have one, 1 has two (at 0.1: 15 and 2).
DOT, MAX_DOTS = 0.1, 1
# Strokes of one digit: none of UNIPEN's 13,363 pen-written digits has more than 5; twice that leaves room
# for a digit retouched or drawn twice over itself, while a field of dots and dashes is no digit.
MAX_DIGIT_STROKES = 10
# The pen's path against the drawing's size: a digit's strokes span it (1.0 or more for all but 4 of those
# 13,363 digits, which hold single points), dots and dashes scattered over it do not.
MIN_LENGTH = 0.9
RIDGE = 1e-3  # added to the covariance's diagonal (relative to its mean variance): a stable inverse


class Novelty:
    """distance(features) and is_digit(features, strokes) of the committed statistics."""

    def __init__(self, means, precision, threshold, path_limits=(np.inf,) * 5):
        self.means, self.precision, self.threshold = means, precision, float(threshold)
        self.path_limits = np.asarray(path_limits, float)  # length, turning, corners, zigzag, polygon
        # precision = L L^T: the distance is a plain one after multiplying by L (0.02 ms a drawing, not 0.2)
        self._factor = np.linalg.cholesky(np.asarray(precision, np.float64))
        self._means = np.asarray(means, np.float64) @ self._factor

    @classmethod
    def load(cls, weights_dir="weights"):
        path = Path(weights_dir) / FILE
        if not path.exists():
            return None
        with np.load(path) as stored:
            limits = stored["path_limits"] if "path_limits" in stored.files else (np.inf,) * 5
            return cls(stored["means"], stored["precision"], stored["threshold"], limits)

    def path_is_digit(self, strokes, with_lines=True):
        """Does the pen's path (the pad's strokes) look like a digit's? Without `with_lines`, its zigzags and
        polygons are not measured (skimage's Douglas-Peucker takes 0.5 ms a drawing, a tenth of reading
        it): for the drawings sent while the pen moves, whose final drawing is measured in full."""
        if len(strokes) > MAX_DIGIT_STROKES:
            return False
        shape = path_shape(strokes, with_lines)
        return bool((shape[:5] <= self.path_limits).all() and shape[5] <= MAX_PARALLEL and shape[6] <= MAX_COIL
                    and shape[7] <= MAX_DOTS and shape[0] >= MIN_LENGTH)

    @staticmethod
    def parts_are_digits(parts):
        """Are a number's parts (each a digit's strokes) not hatching? No digit has more than MAX_PARALLEL
        parallel long straight strokes, and a number made of digits may not either. Flagged with the
        hatching: 111 written as three straight sticks (72 % of the held-out writers' straight 1s, three
        at a time, are parallel within 15 degrees) and 0.3 % of 1,000 numbers made of validation
        writers' digits."""
        return most_parallel([d for part in parts for d in straight_directions(part)]) <= MAX_PARALLEL

    def distance(self, features):
        """(N,) Mahalanobis distance of (N, 128) features (or one (128,)) to the nearest class mean."""
        projected = np.atleast_2d(np.asarray(features, np.float64)) @ self._factor
        squared = ((projected[:, None, :] - self._means[None]) ** 2).sum(axis=2)  # (N, 10)
        return np.sqrt(squared.min(axis=1))

    def is_digit(self, features):
        return self.distance(features) <= self.threshold


def path_shape(strokes, with_lines=True):
    """(length, turning, corners, zigzag, polygon, parallel, coil, dots) of a drawing's pen strokes (a list of
    (N, 2) point arrays): the path's length over the size of its box, its absolute turning in full turns, its
    sharp corners (the direction turning more than 135 degrees within three steps), its longest zigzag
    and polygon (`straight_corners`; 0 without `with_lines`), the most long straight strokes running
    parallel (within 15 degrees), its most coiled stroke (`coiled_turns`), and how many of its strokes are
    dots (taps, and strokes shorter than DOT of its size)."""
    taps = sum(len(s) < 2 for s in strokes)
    strokes = [np.asarray(s, float) for s in strokes if len(s) >= 2]
    if not strokes:
        return np.array([0, 0, 0, 0, 0, 0, 0, taps], float)
    size = max(float(np.ptp(np.concatenate(strokes), axis=0).max()), 1e-9)
    turning = corners = coil = 0.0
    lengths = []
    for stroke in strokes:
        steps = np.hypot(*np.diff(stroke, axis=0).T)
        along = np.concatenate([[0], np.cumsum(steps)])
        lengths.append(along[-1])
        count = int(along[-1] / (SPACING * size))
        if count < 2:
            continue
        at = np.linspace(0, along[-1], count + 1)
        path = np.stack([np.interp(at, along, stroke[:, 0]), np.interp(at, along, stroke[:, 1])], axis=1)
        heading = np.arctan2(*np.diff(path, axis=0).T[::-1])
        turning += np.abs(_turn(np.diff(heading))).sum()
        if len(heading) > 3:
            sharp = np.abs(_turn(heading[3:] - heading[:-3])) > np.deg2rad(135)
            corners += int((np.diff(np.concatenate([[0], sharp.astype(int)])) == 1).sum())
        coil = max(coil, coiled_turns(path))
    parallel = most_parallel(_directions(strokes, lengths, size))
    zigzag, polygon = np.max([straight_corners(stroke, size) for stroke in strokes], axis=0) if with_lines else (0, 0)
    dots = taps + sum(length < DOT * size for length in lengths)
    return np.array([sum(lengths) / size, turning / (2 * np.pi), corners, zigzag, polygon, parallel, coil, dots])


def coiled_turns(path):
    """The most full turns an evenly resampled stroke makes the same way over one stretch, its wobble
    smoothed away; 0 if the stroke crosses itself there. A spiral turns round and round inside itself; a
    digit's loops close on themselves or cross (whether it crosses is asked only past MAX_COIL turns, the
    only place where the answer matters: a tenth of a millisecond saved on most drawings)."""
    smooth = gaussian_filter1d(path, COIL_SMOOTHING, axis=0, mode="nearest")
    steps = np.diff(smooth, axis=0)
    steps = steps[np.hypot(*steps.T) > 0]
    turn = _turn(np.diff(np.arctan2(steps[:, 1], steps[:, 0])))
    turns = max(_most_gained(turn), _most_gained(-turn)) / (2 * np.pi)
    # Smoothed, a 3's sharp cusp turns a full turn in a small loop of its own, which crosses itself.
    return 0.0 if turns > MAX_COIL and crosses_itself(smooth) else turns


def _turn(change):
    """A change of heading (radians) as the turn it is, in [-pi, pi): left positive, right negative."""
    return (change + np.pi) % (2 * np.pi) - np.pi


def _most_gained(values):
    """The largest sum of a stretch of consecutive `values` (0 for none)."""
    running = np.concatenate([[0], np.cumsum(values)])
    return float((running - np.minimum.accumulate(running)).max())


def crosses_itself(path):
    """Do two segments of a polyline ((N, 2) points) that are not next to each other cross?"""
    start, end = path[:-1], path[1:]
    if len(start) < 3:
        return False

    def side(p, q, r):  # which side of the line p -> q each r lies on
        return np.sign((q[..., 0] - p[..., 0]) * (r[..., 1] - p[..., 1]) - (q[..., 1] - p[..., 1]) * (r[..., 0] - p[..., 0]))

    a, b, c, d = start[:, None], end[:, None], start[None], end[None]
    cross = (side(a, b, c) * side(a, b, d) < 0) & (side(c, d, a) * side(c, d, b) < 0)
    return bool(np.triu(cross, 2).any())


def straight_directions(strokes):
    """The directions (radians, modulo pi) of a drawing's long straight strokes: at least half the size
    of its box, their ends at least 0.9 of their length apart."""
    strokes = [np.asarray(s, float) for s in strokes if len(s) >= 2]
    if not strokes:
        return []
    size = max(float(np.ptp(np.concatenate(strokes), axis=0).max()), 1e-9)
    return _directions(strokes, [np.hypot(*np.diff(stroke, axis=0).T).sum() for stroke in strokes], size)


def _directions(strokes, lengths, size):
    """`straight_directions` of (N, 2) float strokes whose path lengths and box size are known."""
    chords = [stroke[-1] - stroke[0] for stroke in strokes]
    return [np.arctan2(chord[1], chord[0]) % np.pi for chord, length in zip(chords, lengths)
            if length > 0.5 * size and np.hypot(*chord) > 0.9 * length]


def most_parallel(directions):
    """The most of `directions` within 15 degrees of one of them."""
    return max((sum(min(abs(a - b), np.pi - abs(a - b)) < np.deg2rad(15) for b in directions) for a in directions),
               default=0)


def straight_corners(stroke, size):
    """(zigzag, polygon): the most corners in a row of one stroke that join straight lines at least
    CORNER_LINE of `size` long, each turning more than CORNER_ANGLE, in turn left and right (a zigzag)
    or all the same way (a polygon's, its closing corner counted). A digit's curves, simplified to
    lines, join short ones; its hooks and cusps make one or two such corners in a row (measured on the
    held-out writers), a 4 or a 7 two; a zigzag's alternate all along it, a square has four."""
    points = approximate_polygon(stroke, TOLERANCE * size)
    lines = np.diff(points, axis=0)
    if np.hypot(*(stroke[-1] - stroke[0])) < CLOSED * size:
        lines = np.concatenate([lines, lines[:1]])  # a closed stroke: its end turns into its start
    if len(lines) < 2:
        return 0, 0
    heading = np.arctan2(lines[:, 1], lines[:, 0])
    turn = _turn(np.diff(heading))
    long = np.hypot(*lines.T) >= CORNER_LINE * size
    side = np.where((np.abs(turn) > CORNER_ANGLE) & long[:-1] & long[1:], np.sign(turn), 0)
    zigzag = polygon = alternating = same = 0
    for i, way in enumerate(side):
        alternating = 0 if not way else alternating + 1 if i and way == -side[i - 1] else 1
        same = 0 if not way else same + 1 if i and way == side[i - 1] else 1
        zigzag, polygon = max(zigzag, alternating), max(polygon, same)
    return zigzag, polygon


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
    limits = np.quantile(shapes[chosen, :5], 1 - FALSE_FLAGS, axis=0)
    limits[2:] = np.ceil(limits[2:])  # counts (corners): the quantile's count, not a fraction of a corner
    novelty = Novelty(means, precision, threshold, limits)
    flagged = (distances > threshold) | ~np.array([novelty.path_is_digit(preprocess.fit_strokes(s)["strokes"])
                                                   for s in validation.strokes])
    print(f"threshold {threshold:.2f}, path limits {np.round(limits, 2)}: flags {flagged[chosen].mean():.2%} of the "
          f"validation half, {flagged[~chosen].mean():.2%} of the other half of the held-out writers")
    np.savez_compressed(Path(args.weights_dir) / FILE, means=means.astype(np.float32),
                        precision=precision.astype(np.float32), threshold=threshold, path_limits=limits)


if __name__ == "__main__":
    main()
