"""Drawn-digit canvases: MNIST digits redrawn the way people draw them on the sketchpad.

Each digit's skeleton is traced with a round brush 4-14 px wide on a 280x280 transparent RGBA
canvas, the digit 30-80 % of the canvas high, anywhere on it, slightly rotated and slanted. These
canvases go through `preprocess.to_mnist` like a real drawing, so they measure what MNIST accuracy
does not: brush width, size and position. `python -m digitpad.drawn --out DIR` draws digits of the test fixture as PNGs, to look at.
"""

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from skimage.morphology import skeletonize
from skimage.transform import resize

FIXTURE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "mnist_test_sample.npz"
CANVAS = 280  # px a side: the sketchpad's canvas (digitpad.sketchpad), shown larger on screen
BRUSH = (4, 14)  # px on that canvas: 1.5-5 % of its side
HEIGHT = (0.30, 0.80)  # of the canvas


def trace(digit: np.ndarray) -> np.ndarray:
    """(N, 2) float (x, y) points along the digit's skeleton, in 28-px units."""
    smooth = resize(digit, (112, 112), order=1) > 0.4
    ys, xs = np.nonzero(skeletonize(smooth))
    return np.stack([xs, ys], axis=1) / 4.0


def render(digit: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """A CANVAS x CANVAS RGBA canvas with the MNIST digit (28x28 in [0, 1]) drawn at random as people do."""
    return draw(digit, brush=rng.uniform(*BRUSH), height=rng.uniform(*HEIGHT), place=rng.uniform(0, 1, 2),
                angle=rng.uniform(-8, 8), slant=rng.uniform(-0.15, 0.15))


def draw(digit, brush, height, place=(0.5, 0.5), angle=0.0, slant=0.0, size=CANVAS) -> Image.Image:
    """The digit's skeleton traced in black with a round `brush` (px) on a transparent canvas.

    `height` is the digit's height as a fraction of the canvas, `place` where it sits in the room
    left around it (0: left/top edge, 1: right/bottom edge), `angle` a rotation in degrees and
    `slant` a shear.
    """
    points = trace(digit)
    radians = np.radians(angle)
    transform = np.array([[np.cos(radians), -np.sin(radians) + slant], [np.sin(radians), np.cos(radians)]])
    points = (points - points.mean(axis=0)) @ transform.T
    span = np.ptp(points, axis=0).clip(min=1e-6)
    scale = min((height * size - brush) / span[1], (size - 2 * brush) / span[0])
    points = (points - points.min(axis=0)) * scale
    room = size - (np.ptp(points, axis=0) + brush)
    points += np.asarray(place) * room + brush / 2
    canvas = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    pen = ImageDraw.Draw(canvas)
    radius = brush / 2
    for x, y in points:
        pen.ellipse((x - radius, y - radius, x + radius, y + radius), fill=(0, 0, 0, 255))
    return canvas


def canvases(images, labels, count, seed=0):
    """Yield (canvas, label) for the first `count` digits, reproducibly."""
    rng = np.random.default_rng(seed)
    for image, label in zip(images[:count], labels[:count]):
        yield render(image, rng), int(label)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Write drawn-digit canvases as PNG files.")
    parser.add_argument("--out", required=True)
    parser.add_argument("--fixture", default=str(FIXTURE), help="npz with x (N, 28, 28) uint8 and y")
    parser.add_argument("--indices", help="comma-separated digits of the fixture to draw (default: the first 20)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    with np.load(args.fixture) as data:
        x, y = data["x"] / 255.0, data["y"]
    chosen = [int(i) for i in args.indices.split(",")] if args.indices else list(range(20))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    # Draw every digit up to the last chosen one, so each canvas is the one `canvases` makes for it.
    for i, (canvas, label) in enumerate(canvases(x, y, max(chosen) + 1, args.seed)):
        if i in chosen:
            canvas.save(out / f"{label}_{i:03d}.png", optimize=True)
    print(f"wrote {len(chosen)} canvases to {out}")


if __name__ == "__main__":
    main()
