"""Real handwriting that is not MNIST: semeion, optdigits and USPS, read like a drawing.

The sets are small bitmaps, white ink on black, whose ink touches the border. Each is padded and
read through `preprocess.to_mnist`, so the models see them exactly as they see a sketchpad drawing.
They are not in the repository: point DIGITPAD_DATA (or `--data-dir`) at the folder holding
`semeion.npz`, `optdigits.npz` and `usps.npz` (default: ../shared/data beside the repository).

Who may be trained on (see that folder's README): semeion and optdigits (CC BY 4.0) yes; USPS no,
it only measures. The split below keeps the rows the recipe is chosen on out of training:

- semeion: its rows come in runs of one class (~20 rows each) cycling through 0-9 six times, and
  it gives no writer ids; the fourth cycle is held out whole, so most of its writers stay apart.
- optdigits: `x_test` is held out (it shares writers with `x_train`, so it flatters a little).
- USPS: `x_train` validates the recipe, `x_test` is reported; neither is trained on.
"""

import os
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageFilter

from digitpad import preprocess

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DIR = ROOT.parent / "shared" / "data"
SEMEION_HELD_OUT_CYCLE = 3  # 0-based: the fourth pass through the digits 0-9
PAD = 2  # px around each bitmap: its ink touches the border
UPSCALE = 4


class Digits(NamedTuple):
    x: np.ndarray  # (N, 28, 28) float32 in [0, 1], white on black, as preprocess.to_mnist makes them
    y: np.ndarray  # (N,) int64


def data_dir(path=None) -> Path:
    """The folder with the real-handwriting sets: `path`, else $DIGITPAD_DATA, else ../shared/data."""
    folder = Path(path or os.environ.get("DIGITPAD_DATA") or DEFAULT_DIR)
    if not folder.is_dir():
        raise FileNotFoundError(f"No data folder at {folder}: set DIGITPAD_DATA or pass --data-dir.")
    return folder


def load_raw(name, path=None):
    """{part: (images uint8 (N, H, W) white on black, labels int64)} of one set as stored."""
    with np.load(data_dir(path) / f"{name}.npz") as stored:
        if name == "semeion":
            return {"all": (stored["x"], stored["y"].astype(np.int64))}
        return {part: (stored[f"x_{part}"], stored[f"y_{part}"].astype(np.int64)) for part in ("train", "test")}


def semeion_cycles(labels):
    """Cycle number of each row: a new cycle starts each time the class goes back to a lower one."""
    restarts = np.concatenate([[0], (np.diff(labels) < 0).astype(np.int64)])
    return np.cumsum(restarts)


def read(images, labels) -> Digits:
    """Bitmaps -> MNIST-style digits through `preprocess.to_mnist`, as the app reads a drawing."""
    return Digits(np.stack([preprocess.to_mnist(enlarge(image)) for image in images]), labels)


def enlarge(image):
    """A small bitmap padded and enlarged UPSCALE times, smoothly: a scan at a finer resolution.

    A binary bitmap (semeion, optdigits) is also blurred: its staircase edges would give the
    skeleton spurs that no pen stroke has. A grayscale one (USPS) is smooth already; blurring it
    cost 0.8 points of USPS-train accuracy.
    """
    padded = np.pad(image, PAD)
    size = (padded.shape[1] * UPSCALE, padded.shape[0] * UPSCALE)
    enlarged = Image.fromarray(padded).resize(size, Image.BICUBIC)
    if len(np.unique(image)) <= 2:
        enlarged = enlarged.filter(ImageFilter.GaussianBlur(UPSCALE / 2))
    return np.asarray(enlarged)


@lru_cache(maxsize=None)
def splits(path=None):
    """{split name: Digits}: what training may use and what only measures.

    'semeion_train', 'optdigits_train': trained on.
    'semeion_held_out', 'optdigits_held_out', 'usps_train': validation (the recipe is chosen on these).
    'usps_test': reported only.
    """
    (x, y), = load_raw("semeion", path).values()
    held_out = semeion_cycles(y) == SEMEION_HELD_OUT_CYCLE
    optdigits, usps = load_raw("optdigits", path), load_raw("usps", path)
    return {
        "semeion_train": read(x[~held_out], y[~held_out]),
        "optdigits_train": read(*optdigits["train"]),
        "semeion_held_out": read(x[held_out], y[held_out]),
        "optdigits_held_out": read(*optdigits["test"]),
        "usps_train": read(*usps["train"]),
        "usps_test": read(*usps["test"]),
    }


TRAINING = ("semeion_train", "optdigits_train")
VALIDATION = ("semeion_held_out", "optdigits_held_out", "usps_train")


def training_digits(path=None) -> Digits:
    """The real digits training may use, together."""
    parts = [splits(path)[name] for name in TRAINING]
    return Digits(np.concatenate([p.x for p in parts]), np.concatenate([p.y for p in parts]))


def held_out_digits(path=None) -> Digits:
    """The held-out real slice (semeion's held-out cycle and optdigits' test part), together."""
    parts = [splits(path)[name] for name in ("semeion_held_out", "optdigits_held_out")]
    return Digits(np.concatenate([p.x for p in parts]), np.concatenate([p.y for p in parts]))
