"""What is on the pad: numbers read digit by digit, and "not a digit" for what is not one.
`python -m benchmarks.reading`

From tests/fixtures/unipen_sample.npz (pen-written digits of held-out UNIPEN writers, no model trained
on them), drawn on the pad's 280-unit canvas and read as the page reads them (`Predictor.predict`):

- numbers of 2-4 digits of one writer side by side, with a writer's gaps (a fifth to a third of a
  digit's height), one gap in ten touching; cnn_batchnorm's whole-number accuracy against what its
  single-digit accuracy on those digits predicts (0.97 x accuracy^n: segmentation loses at most 3 %);
- every single digit of the fixture: split into two or more parts, flagged "not a digit";
- synthetic non-digits (scribbles, zigzags, hatching, spirals, shapes, letters made of strokes, dots):
  flagged "not a digit", and "All five models say ..." (the verdict's agree state);
- bad input (50 tiny strokes, a digit drawn twice on itself, 20 digits): the verdict, never an exception.
"""

import argparse
import string
import time

import numpy as np

from benchmarks.server import ROOT, machine
from digitpad import preprocess, unipen, views

FIXTURE = ROOT / "tests" / "fixtures" / "unipen_sample.npz"
SIDE = preprocess.PAD_SIDE
COUNT = 200  # of each kind
TARGETS = {"number_ratio": 0.97, "split": 0.005, "single_flagged": 0.01, "nondigit_flagged": 0.90,
           "nondigit_agree": 0.02}


def placed(strokes, left, top, height):
    """Strokes in any units scaled to `height` canvas units high, their box's top-left at (left, top)."""
    points = np.concatenate(strokes)
    low, span = points.min(axis=0), np.ptp(points, axis=0)
    scale = height / max(span[1], span[0] * 0.6, 1e-9)
    return [((np.asarray(s, float) - low) * scale + [left, top]) for s in strokes], span[0] * scale


def as_value(strokes):
    return {"strokes": [np.round(np.clip(s, 0, SIDE), 1).tolist() for s in strokes], "width": SIDE, "height": SIDE}


def number(pen, writer_digits, rng, n=None):
    """(pad value, its digits as a string, their indices in `pen`): `n` (else 2-4) digits of one writer
    side by side."""
    n = n or int(rng.integers(2, 5))
    chosen = rng.choice(writer_digits, n, replace=len(writer_digits) < n)
    height = SIDE * rng.uniform(0.25, 0.4) * (1.0 if n < 4 else 0.8)
    x, strokes = 0.0, []
    for i in chosen:
        part, width = placed(pen.strokes[i], x, 0, height)
        strokes += part
        gap = -0.03 * height if rng.random() < 0.1 else rng.uniform(0.2, 0.35) * height
        x += width + gap
    x -= gap  # the number's width: no gap after its last digit
    # A writer fits the number on the pad: one too wide for it is written smaller (else its end digits
    # would be cut at the pad's edge, as the pad clamps the pen there).
    fit = min(1.0, 0.95 * SIDE / x)
    shift = np.array([(SIDE - x * fit) / 2, (SIDE - height * fit) / 2])
    return as_value([s * fit + shift for s in strokes]), "".join(str(pen.labels[i]) for i in chosen), chosen


def nondigit(kind, rng):
    """Pad value of a synthetic drawing that is not a digit."""
    c, r = SIDE / 2 + rng.uniform(-20, 20, 2), SIDE * rng.uniform(0.25, 0.38)
    if kind == "scribble":
        steps = rng.normal(0, 1, (int(rng.integers(40, 90)), 2)).cumsum(axis=0)
        walk = steps - steps.mean(axis=0)
        return as_value([c + walk / np.abs(walk).max() * r])
    if kind == "zigzag":
        k = int(rng.integers(4, 9))
        xs = np.linspace(-r, r, k + 1)
        ys = np.where(np.arange(k + 1) % 2, -r, r) * rng.uniform(0.3, 1)
        return as_value([c + np.stack([xs, ys], 1)])
    if kind == "hatching":
        k, angle = int(rng.integers(3, 7)), rng.uniform(0, np.pi)
        d = np.array([np.cos(angle), np.sin(angle)]) * r
        n = np.array([-d[1], d[0]]) / r
        return as_value([np.stack([c - d + n * o, c + d + n * o]) for o in np.linspace(-r, r, k)])
    if kind == "spiral":
        t = np.linspace(0, rng.uniform(2.5, 5) * 2 * np.pi, 120)
        rad = r * t / t[-1]
        return as_value([c + np.stack([np.cos(t) * rad, np.sin(t) * rad], 1) * [1, rng.uniform(0.7, 1.3)]])
    if kind == "shape":
        k = int(rng.choice([3, 4, 5, 6]))
        t = np.linspace(0, 2 * np.pi, k + 1) + rng.uniform(0, np.pi)
        return as_value([c + np.stack([np.cos(t), np.sin(t)], 1) * r])
    if kind == "dots":  # a pen tapped all over: dots and short dashes, over a digit's size or the whole pad
        k, spread = int(rng.integers(15, 60)), rng.choice([r, SIDE / 2 - 10])
        at = rng.uniform(-spread, spread, (k, 2)) + (c if spread == r else SIDE / 2)
        return as_value([np.stack([p, p + rng.uniform(-4, 4, 2)]) for p in at])
    letter = LETTERS[rng.choice(sorted(LETTERS))]
    return as_value([c + (np.asarray(s, float) - 0.5) * 2 * r for s in letter])


# Capital letters as strokes in a unit box (y down): none of them a digit's shape.
LETTERS = {
    "A": [[(0, 1), (0.5, 0), (1, 1)], [(0.25, 0.55), (0.75, 0.55)]],
    "E": [[(1, 0), (0, 0), (0, 1), (1, 1)], [(0, 0.5), (0.7, 0.5)]],
    "H": [[(0, 0), (0, 1)], [(1, 0), (1, 1)], [(0, 0.5), (1, 0.5)]],
    "K": [[(0, 0), (0, 1)], [(1, 0), (0, 0.55), (1, 1)]],
    "M": [[(0, 1), (0, 0), (0.5, 0.6), (1, 0), (1, 1)]],
    "W": [[(0, 0), (0.25, 1), (0.5, 0.4), (0.75, 1), (1, 0)]],
    "X": [[(0, 0), (1, 1)], [(1, 0), (0, 1)]],
    "F": [[(1, 0), (0, 0), (0, 1)], [(0, 0.5), (0.7, 0.5)]],
    "N": [[(0, 1), (0, 0), (1, 1), (1, 0)]],
    "Y": [[(0, 0), (0.5, 0.5), (1, 0)], [(0.5, 0.5), (0.5, 1)]],
}
assert set(LETTERS) <= set(string.ascii_uppercase)
KINDS = ["scribble", "zigzag", "hatching", "spiral", "shape", "letter", "dots"]


def main(argv=None):
    from digitpad.inference import Predictor

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=COUNT)
    args = parser.parse_args(argv)
    predictor = Predictor(ROOT / "weights")
    pen = unipen.load(FIXTURE)
    rng = np.random.default_rng(7)
    print(f"DigitPad reading on {machine()}; {FIXTURE.name}: {len(pen.labels)} digits of "
          f"{len(set(pen.writers))} held-out writers")
    checks = {}

    singles = [predictor.predict(unipen.pad_value(strokes)) for strokes in pen.strokes]
    read_alone = [bool(p.probabilities) and p.probabilities["cnn_batchnorm"].argmax() == y
                  for p, y in zip(singles, pen.labels)]
    single_accuracy = np.mean(read_alone)
    split = np.mean([len(p.digits) > 1 for p in singles])
    flagged = np.mean([not p.is_digit for p in singles])
    print(f"single pen digits ({len(singles)}): cnn_batchnorm {single_accuracy:.2%} right; split in parts "
          f"{split:.2%}; flagged 'not a digit' {flagged:.2%}")
    checks[f"single digits split <= {TARGETS['split']:.1%} ({split:.2%})"] = split <= TARGETS["split"]
    checks[f"single digits flagged <= {TARGETS['single_flagged']:.0%} ({flagged:.2%})"] = (
        flagged <= TARGETS["single_flagged"])

    writers = {w: np.nonzero(pen.writers == w)[0] for w in sorted(set(pen.writers))}
    writers = {w: i for w, i in writers.items() if len(i) >= 4}
    right, lengths, counts, readable, used = [], [], [], [], []
    for k in range(args.count):
        value, truth, chosen = number(pen, writers[sorted(writers)[k % len(writers)]], rng)
        read = predictor.read_number(value)["cnn_batchnorm"]
        right.append(read == truth)
        counts.append(len(read) == len(truth))
        lengths.append(len(truth))
        readable.append(all(read_alone[i] for i in chosen))  # each of its digits read right on its own
        used += [read_alone[i] for i in chosen]
    # The numbers take each writer in turn, so their digits are not the fixture's mix: the expectation
    # uses cnn_batchnorm's single-digit accuracy on the digits the numbers are made of (each time used).
    accuracy = np.mean(used)
    expected = np.mean([accuracy ** n for n in lengths])
    ratio = np.mean(right) / expected
    print(f"numbers of 2-4 pen digits ({args.count}): cnn_batchnorm reads {np.mean(right):.1%} whole, {expected:.1%} "
          f"expected from its single-digit accuracy on their digits ({accuracy:.2%}): {ratio:.2f}x (from its "
          f"accuracy on all the fixture's digits, {np.mean(right) / np.mean([single_accuracy ** n for n in lengths]):.3f}x);"
          f" right digit count {np.mean(counts):.1%}")
    # The expectation takes the digits' errors as independent; a writer's few digits recur across the
    # writer's numbers, so the numbers it could read are also counted directly.
    whole = np.mean([r for r, ok in zip(right, readable) if ok])
    print(f"  of the {sum(readable)} numbers whose digits it reads right one by one, it reads {whole:.1%} whole")
    checks[f"numbers: {ratio:.2f}x the single-digit expectation >= {TARGETS['number_ratio']}"] = (
        ratio >= TARGETS["number_ratio"])

    print(f"\n{'drawn':<12}{'flagged not a digit':>21}{'All five models say':>21}")
    for kind in KINDS:
        results = [predictor.predict(nondigit(kind, rng)) for _ in range(args.count)]
        flagged = np.mean([not p.is_digit for p in results if p.probabilities] or [0])
        agree = np.mean([views.agreement(p)[0] == "agree" for p in results])
        print(f"{kind:<12}{flagged:>21.1%}{agree:>21.1%}")
        checks[f"{kind}: flagged {flagged:.0%} >= {TARGETS['nondigit_flagged']:.0%}, 'All five' {agree:.1%} <= "
               f"{TARGETS['nondigit_agree']:.0%}"] = (flagged >= TARGETS["nondigit_flagged"]
                                                     and agree <= TARGETS["nondigit_agree"])

    seven = unipen.pad_value(pen.strokes[int(np.nonzero(pen.labels == 7)[0][0])])
    tiny = as_value([np.array([[x, y], [x + 2, y + 1]]) for x, y in rng.uniform(10, 270, (50, 2))])
    twice = {**seven, "strokes": seven["strokes"] * 2}
    many = as_value([s for i in range(20) for s in placed(pen.strokes[i], 5 + 13.5 * i, 120, 30)[0]])
    print()
    for name, value in (("50 tiny strokes", tiny), ("a 7 drawn twice on itself", twice), ("20 digits", many)):
        prediction = predictor.predict(value)
        print(f"{name}: {views.agreement(prediction)[1][:110]}")
    start = time.perf_counter()
    four = number(pen, writers[sorted(writers)[0]], np.random.default_rng(2))[0]
    times = {}
    for name, value in (("one digit", seven), ("a number", four)):
        elapsed = []
        for _ in range(30):
            start = time.perf_counter()
            predictor.predict(value)
            elapsed.append(time.perf_counter() - start)
        times[name] = np.median(elapsed)
    print(f"\nin process: one digit {times['one digit'] * 1000:.1f} ms, a number of "
          f"{len(predictor.read_number(four)['cnn'])} digits {times['a number'] * 1000:.1f} ms (median)")
    for text, ok in checks.items():
        print(("met:    " if ok else "MISSED: ") + text)
    raise SystemExit(0 if all(checks.values()) else 1)


if __name__ == "__main__":
    main()
