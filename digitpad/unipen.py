"""Real pen strokes: the UNIPEN digits, read like the pad's strokes.

`unipen.npz` (see ../shared/data/README.md) holds 13,363 isolated digits written with a pen on
tablets at twelve UNIPEN sites by 119 writers, as strokes: the same kind of input as the pad's.
UNIPEN train_r01_v07, category 1a, International Unipen Foundation, CC BY 4.0 (Zenodo, doi
10.5281/zenodo.1195803); cite Guyon, Schomaker, Plamondon, Liberman and Janet, "UNIPEN project of
on-line data exchange and recognizer benchmarks", ICPR 1994.

Each digit is fitted to the pad's canvas (`preprocess.fit_strokes`) and read by
`preprocess.read_strokes`, exactly as a drawing on the pad. `vary` changes strokes the way writers
do (slant, rotation, aspect, size, a stroke shifted, sampling density) so that training can render
them anew each epoch.

The split keeps writers apart: every writer of the held-out site (HELD_OUT_SITE), and one writer in
five of the other sites (chosen by a hash of the writer id, so the split never changes), only validate.
"""

import hashlib
from pathlib import Path
from typing import NamedTuple

import numpy as np

from digitpad import preprocess
from digitpad.handwriting import Digits, data_dir

HELD_OUT_SITE = "uqb"  # Trois-Rivieres: 4 writers, 598 digits, a tablet no training digit comes from
HELD_OUT_SHARE = 0.2  # of the other sites' writers
WRITER_CAP = 150  # digits: a writer with more counts as this many (two writers gave 1,462 digits)
VARIANTS = 10  # renderings of each training digit, one per epoch in turn


class PenDigits(NamedTuple):
    strokes: list  # per digit: [(N, 2) float32 x, y points, tablet units, y down], in writing order
    labels: np.ndarray  # (N,) int64
    writers: np.ndarray  # (N,) str, "site/number"
    sites: np.ndarray  # (N,) str, three letters

    def subset(self, indices):
        return PenDigits([self.strokes[i] for i in indices], self.labels[indices], self.writers[indices],
                         self.sites[indices])


def load(path=None) -> PenDigits:
    """All UNIPEN digits from `unipen.npz` in `path` (else $DIGITPAD_DATA, else ../shared/data), or
    from a file of that layout given directly (the tests' fixture)."""
    path = Path(path) if path and str(path).endswith(".npz") else data_dir(path) / "unipen.npz"
    with np.load(path) as stored:
        points, starts, digits = stored["points"], stored["stroke_starts"], stored["digit_strokes"]
        strokes = [[points[starts[k]:starts[k + 1]] for k in range(digits[i], digits[i + 1])]
                   for i in range(len(digits) - 1)]
        return PenDigits(strokes, stored["labels"].astype(np.int64), stored["writers"].astype(str),
                         stored["contributors"].astype(str))


def held_out(writers, sites) -> np.ndarray:
    """Boolean mask of the validation digits: whole writers, the held-out site among them."""
    def validates(writer):
        return int(hashlib.sha256(writer.encode()).hexdigest(), 16) % 1000 < HELD_OUT_SHARE * 1000

    chosen = {w for w in np.unique(writers) if validates(w)}
    return (sites == HELD_OUT_SITE) | np.isin(writers, list(chosen))


def writer_half(writer):
    """"validation" or "test": a fixed half of the held-out writers, by a hash of the writer's id, for
    choices made after training (adaptation, the "not a digit" threshold) and their honest measure."""
    return "validation" if int(hashlib.sha256(writer.encode()).hexdigest(), 16) % 2 == 0 else "test"


def split(pen: PenDigits):
    """(train, validation) PenDigits with no writer in both."""
    mask = held_out(pen.writers, pen.sites)
    return pen.subset(np.nonzero(~mask)[0]), pen.subset(np.nonzero(mask)[0])


def writer_weights(writers) -> np.ndarray:
    """Per digit: 1, or less for prolific writers, so that each counts as at most WRITER_CAP digits."""
    _, inverse, counts = np.unique(writers, return_inverse=True, return_counts=True)
    return np.minimum(1.0, WRITER_CAP / counts[inverse]).astype(np.float32)


def vary(strokes, rng):
    """The same digit as another writer (or the same one another day) might write it, in stroke space:
    slant, rotation, aspect, a stroke shifted a little, fewer or more sample points."""
    points = np.concatenate(strokes).astype(np.float64)
    centre = (points.min(axis=0) + points.max(axis=0)) / 2
    span = max(float(np.ptp(points, axis=0).max()), 1e-9)
    angle = np.radians(rng.uniform(-8, 8))
    slant = rng.uniform(-0.25, 0.25)  # x shifts with height (y points down: positive leans right)
    aspect = np.exp(rng.uniform(-0.15, 0.15))
    transform = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]) @ \
        np.array([[aspect, -slant], [0.0, 1.0]])
    varied = []
    for stroke in strokes:
        stroke = np.asarray(stroke, np.float64)
        if len(stroke) > 4 and rng.random() < 0.5:  # sampling density: keep every other point, or drop a few
            keep = rng.random(len(stroke)) > 0.2
            keep[[0, -1]] = True
            stroke = stroke[keep]
        shift = rng.normal(0, 0.03 * span, 2) if len(strokes) > 1 else 0.0  # where a pen lifted, it lands again
        varied.append((stroke - centre) @ transform.T + shift)
    return varied


def pad_value(strokes, rng=None) -> dict:
    """A digit's strokes as the pad's value: fitted to its canvas, 60 % of it high (40-75 % varied)."""
    height = 0.6 if rng is None else rng.uniform(0.4, 0.75)
    return preprocess.fit_strokes(strokes, height=height)


def read(strokes_list, seed=None) -> np.ndarray:
    """(N, 28, 28) float32: each digit read by `preprocess.read_strokes`, as the pad's drawing is;
    varied (`vary`) first when a seed is given."""
    rng = None if seed is None else np.random.default_rng(seed)
    images = []
    for strokes in strokes_list:
        if rng is not None:
            strokes = vary(strokes, rng)
        images.append(preprocess.read_strokes(pad_value(strokes, rng)).image)
    return np.stack(images)


def read_all(pen: PenDigits, seed=None) -> Digits:
    """`read` on all cores, with a progress bar."""
    from digitpad.data import map_in_processes

    chunks = [(pen.strokes[i:i + 500], None if seed is None else seed * 100_003 + i)
              for i in range(0, len(pen.labels), 500)]
    return Digits(map_in_processes(_read_chunk, chunks, len(pen.labels), "digit"), pen.labels)


def _read_chunk(chunk):
    return read(*chunk)


def variants(pen: PenDigits, count=VARIANTS, seed=0) -> np.ndarray:
    """(N, count, 28, 28) uint8: each digit as written, then `count - 1` varied renderings (training
    shows one of them, picked anew each epoch)."""
    renderings = [read_all(pen).x] + [read_all(pen, seed + k).x for k in range(1, count)]
    return (np.stack(renderings, axis=1) * 255).round().astype(np.uint8)

def save(pen: PenDigits, path):
    """Write digits in unipen.npz's own layout (the tests' fixture is such a file)."""
    strokes = [stroke for digit in pen.strokes for stroke in digit]
    np.savez_compressed(
        path, points=np.concatenate(strokes).astype(np.float32),
        stroke_starts=np.cumsum([0] + [len(s) for s in strokes]).astype(np.int64),
        digit_strokes=np.cumsum([0] + [len(d) for d in pen.strokes]).astype(np.int64),
        labels=pen.labels, writers=pen.writers, contributors=pen.sites)


def main(argv=None):
    """`python -m digitpad.unipen --fixture PATH [--examples PATH --indices 3,17,...]`: every EVERY-th
    held-out digit as the tests' fixture; some of those, as pad values, as the page's examples."""
    import argparse
    import json

    parser = argparse.ArgumentParser(description=main.__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="folder holding unipen.npz (default: $DIGITPAD_DATA or ../shared/data)")
    parser.add_argument("--fixture", required=True, help="the fixture file to write")
    parser.add_argument("--every", type=int, default=10)
    parser.add_argument("--examples", help="a JSON file of pad values to write, from the fixture's rows --indices")
    parser.add_argument("--indices", default="")
    args = parser.parse_args(argv)
    _, validation = split(load(args.data_dir))
    fixture = validation.subset(np.arange(0, len(validation.labels), args.every))
    save(fixture, args.fixture)
    print(f"{args.fixture}: {len(fixture.labels)} digits of {len(np.unique(fixture.writers))} held-out writers")
    if args.examples:
        rows = [int(i) for i in args.indices.split(",")]
        examples = [{"label": int(fixture.labels[i]), "writer": str(fixture.writers[i]),
                     "value": pad_value(fixture.strokes[i])} for i in rows]
        Path(args.examples).write_text(json.dumps(examples, separators=(",", ":")))


if __name__ == "__main__":
    main()
