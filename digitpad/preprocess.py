"""Turn whatever the user drew into an MNIST digit: 28x28, float32 in [0, 1], white ink on black.

MNIST's own recipe is followed (crop to the ink, fit the longer side in 20 px keeping the aspect,
anti-alias, centre the centre of mass in 28x28), with one step added in front: the strokes are
thinned to their skeleton and redrawn with MNIST's median pen width, so a 8 px brush on a huge
digit and a 48 px brush on a small one both come out looking like MNIST.
"""

import functools
import math
from typing import NamedTuple

import cv2
import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage
from skimage.morphology import skeletonize

SIZE = 28  # MNIST image side
BOX = 20  # MNIST fits the digit's longer side in 20 px
CENTRE = 14.0  # where MNIST puts the centre of mass (measured on the training set: 13.99, 14.00)
SCALE = 4  # strokes are redrawn at 4x resolution, then area-averaged down: MNIST-like grey edges
# MNIST's median stroke is 2.8 px wide (ink mass / skeleton length, measured on the training set).
STROKE_RADIUS = 4.7  # in SCALE px; calibrated so MNIST digits keep their median stroke width
MIN_SIDE = 8  # smaller images cannot hold a readable digit
MAX_SIDE = 4096  # px: far above the canvas; bigger images are refused before they are decoded
MAX_PIXELS = MAX_SIDE * MAX_SIDE
MIN_CONTRAST = 32  # of 255: fainter marks are noise, not ink
MAX_INK = 0.6  # a "drawing" covering more of its box than this is a filled area, not strokes ...
MAX_BLOB_ASPECT = 2.0  # ... unless the box is this elongated: a thick bar is a "1", its skeleton the line


# The pad's strokes (digitpad.pad): limits far above any digit a person draws (a UNIPEN digit has 46
# points and 1-3 strokes, a 2-second stroke on the pad about 120 points), checked before a pixel is
# allocated.
PAD_SIDE = 280  # canvas units of the pad's value: its strokes' coordinate system, whatever the screen size
BRUSH = 13 / PAD_SIDE  # the pad's round brush, as a fraction of the canvas' longer side
MAX_STROKES = 200
MAX_POINTS = 5_000  # all strokes together: over a minute of drawing without a pause
MAX_INK_LENGTH = 100  # the pen's path, in canvas sides: a digit's is 2-4; bounds the cost of rendering
RENDER_SIDE = 560  # px: strokes on a bigger canvas are rendered scaled down to this (to_mnist reads 80 px)

cv2.setNumThreads(1)  # a drawing is a few thousand pixels: OpenCV's threads would only wait for each other


class DrawingError(ValueError):
    """The input cannot be read as a drawing; the message is meant for the user."""


class Drawing(NamedTuple):
    image: np.ndarray  # (28, 28) float32 in [0, 1], white ink on black; all zero when empty
    extent: float  # longer side of the ink's box as a fraction of the canvas' longer side

    @property
    def empty(self):
        return self.extent == 0.0


def to_mnist(image) -> np.ndarray:
    """The MNIST-style (28, 28) float32 image of a drawing (strokes or an image); all zeros for an empty canvas."""
    return read(image).image


class Strokes(NamedTuple):
    """A pad value, checked: pen strokes on a width x height canvas."""

    strokes: list  # [(N, 2) float64 (x, y) points, y pointing down], in drawing order
    width: float
    height: float
    live: bool = False  # the pen still moving: the pad sends the strokes so far (marked "live")


def check_strokes(value) -> Strokes:
    """The pad's value ({"strokes": [[[x, y], ...], ...], "width": W, "height": H}) checked against
    the limits above; DrawingError names what is wrong. Costs microseconds per point, allocates no
    pixels: every limit is checked from the lists' lengths before their numbers are converted."""
    if not isinstance(value, dict) or not isinstance(value.get("strokes"), list):
        raise DrawingError('Expected the pad\'s strokes: {"strokes": [[[x, y], ...], ...], "width": W, "height": H}.')
    width, height = value.get("width", PAD_SIDE), value.get("height", PAD_SIDE)
    for side in (width, height):
        if isinstance(side, bool) or not isinstance(side, (int, float)) or not math.isfinite(side):
            raise DrawingError("The canvas width and height must be numbers.")
    if not (MIN_SIDE <= width <= MAX_SIDE and MIN_SIDE <= height <= MAX_SIDE):
        raise DrawingError(f"The canvas is {width}x{height}; DigitPad reads canvases from {MIN_SIDE}x{MIN_SIDE} "
                           f"to {MAX_SIDE}x{MAX_SIDE}.")
    strokes = value["strokes"]
    if len(strokes) > MAX_STROKES:
        raise DrawingError(f"The drawing has {len(strokes):,} strokes; DigitPad reads at most {MAX_STROKES}.")
    if not all(isinstance(stroke, list) for stroke in strokes):
        raise DrawingError("Each stroke must be a list of [x, y] points.")
    total = sum(len(stroke) for stroke in strokes)
    if total > MAX_POINTS:
        raise DrawingError(f"The drawing has {total:,} points; DigitPad reads at most {MAX_POINTS:,}.")
    checked, length = [], 0.0
    for stroke in strokes:
        if not stroke:
            continue
        try:
            points = np.asarray(stroke)
        except (ValueError, TypeError):  # ragged: a point holding a list
            points = None
        # One shape and dtype check instead of a look at every point: strings, None, nested lists and
        # points of another length are not (N, 2) numbers.
        if points is None or points.dtype.kind not in "iuf" or points.ndim != 2 or points.shape[1] != 2:
            raise DrawingError("Each point must be a list of two numbers, [x, y].")
        points = points.astype(np.float64)
        if not np.isfinite(points).all():
            raise DrawingError("A point is not a finite number (NaN or infinity).")
        if points.min() < 0 or points[:, 0].max() > width or points[:, 1].max() > height:
            raise DrawingError(f"A point lies outside the {width}x{height} canvas: coordinates run from 0 to its "
                               "width and height.")
        length += float(np.hypot(*np.diff(points, axis=0).T).sum())
        checked.append(points)
    if length > MAX_INK_LENGTH * max(width, height):
        raise DrawingError(f"The strokes are {length / max(width, height):,.0f} canvas sides long; DigitPad reads at "
                           f"most {MAX_INK_LENGTH}.")
    return Strokes(checked, float(width), float(height), value.get("live") is True)


MAX_DIGITS = 8  # a number of more digits than this is not read
SINGLE_SIZE = 0.6  # of the canvas: a single digit's size as written on the pad (and as pen digits are fitted)
GAP = 0.15  # strokes less than this share of their height apart horizontally (a 4's two strokes, a 5's
# flag: up to 0.14 among the fixture's pen digits) belong to one digit, as do strokes the pen joins
# (their inks overlap); digits in a number stand further apart
# A group of strokes this wide for its height may be two digits written touching (`_apart`): chosen on
# numbers made of the validation half of the held-out UNIPEN writers' digits (1,000, a tenth of them with
# two digits touching): right digit count 97.5 % at 1.0 (as wide as high), 98.2 % at 0.9, single digits
# split 0.62 % at both (a writer's very wide two-stroke 0s); 0.8 split 0.98 %.
APART_WIDTH = 0.9
# Two upright strokes side by side (each at least UPRIGHT of the group's height) overlapping by at most
# TOUCHING of its height are two digits: on the same validation numbers, right digit count 98.2 -> 99.2 %
# (at 0.05 and 0.08 alike; 0.03: 98.4 %), single digits split as before.
UPRIGHT, TOUCHING = 0.8, 0.05


def split_digits(strokes: Strokes) -> list:
    """The strokes grouped into digits, left to right: [Strokes] (one for a single digit).

    Strokes that overlap horizontally or nearly (a 4's two strokes, a 5's flag, a crossed 7) or that
    the pen joins belong to one digit; a gap apart starts the next; a group as wide as two digits made
    of separate strokes is cut between them (`_apart`). DrawingError for more than MAX_DIGITS.
    """
    if len(strokes.strokes) < 2:
        return [strokes]
    touch = BRUSH / 2 * max(strokes.width, strokes.height)  # the inks of the two overlap
    lows = [points[:, 0].min() for points in strokes.strokes]
    highs = [points[:, 0].max() for points in strokes.strokes]
    tops = [points[:, 1].min() for points in strokes.strokes]
    bottoms = [points[:, 1].max() for points in strokes.strokes]
    group = list(range(len(strokes.strokes)))  # union-find: each stroke's digit

    def root(i):
        while group[i] != i:
            group[i] = group[group[i]]
            i = group[i]
        return i

    for i in range(len(strokes.strokes)):
        for j in range(i + 1, len(strokes.strokes)):
            gap = max(lows[i], lows[j]) - min(highs[i], highs[j])  # negative: they overlap
            height = max(bottoms[i], bottoms[j]) - min(tops[i], tops[j])
            if gap < GAP * height or (gap < touch and _closest(strokes.strokes[i], strokes.strokes[j]) <= touch):
                group[root(i)] = root(j)
    digits = {}
    for i in range(len(strokes.strokes)):
        digits.setdefault(root(i), []).append(strokes.strokes[i])
    digits = [piece for part in digits.values() for piece in _apart(part)]  # digits written touching, apart
    if len(digits) > MAX_DIGITS:
        raise DrawingError(f"DigitPad reads numbers of up to {MAX_DIGITS} digits; this drawing has {len(digits)} "
                           "separate parts.")
    ordered = sorted(digits, key=lambda part: min(points[:, 0].min() for points in part))
    return [strokes._replace(strokes=part) for part in ordered]


def as_single_digits(parts: list) -> list:
    """A number's digits (`split_digits`) each moved to the middle of its own canvas and scaled, all by
    one factor, so that the largest is as big as a single digit is written (SINGLE_SIZE of the canvas):
    the pad's brush then bears on each digit as on a single one (a digit a third that size drawn with
    the same brush has its loops filled in). One factor keeps a dot or a small digit small."""
    if len(parts) < 2:
        return parts
    points = [np.concatenate(part.strokes) for part in parts]
    lows, spans = [p.min(axis=0) for p in points], [np.ptp(p, axis=0) for p in points]
    side = max(parts[0].width, parts[0].height)
    factor = SINGLE_SIZE * side / max(max(float(span.max()) for span in spans), 1e-9)
    single = []
    for part, low, span in zip(parts, lows, spans):
        offset = (np.array([part.width, part.height]) - span * factor) / 2
        single.append(part._replace(strokes=[(points - low) * factor + offset for points in part.strokes]))
    return single


def _apart(part):
    """[part] or its strokes cut in two (recursively): digits written touching. A group is cut between
    its strokes where the two sides overlap least, if either
    - it is at least APART_WIDTH of its height wide, each side has a stroke of at least half its height,
      and the sides overlap by at most a quarter of the narrower side's width, or
    - each side has a stroke of at least UPRIGHT of its height and they overlap by at most TOUCHING of it
      (a 1 written touching its neighbour: too narrow a pair for the first)."""
    if len(part) < 2:
        return [part]
    points = np.concatenate(part)
    width, height = np.ptp(points, axis=0)
    ordered = sorted(part, key=lambda stroke: stroke[:, 0].mean())
    spans = np.array([np.ptp(s[:, 1]) for s in ordered]) / max(height, 1e-9)
    if width < APART_WIDTH * height and (spans >= UPRIGHT).sum() < 2:
        return [part]  # neither way can cut it (most multi-stroke digits: a 4, a 5's flag, a crossed 7)
    lows = np.array([s[:, 0].min() for s in ordered])
    highs = np.array([s[:, 0].max() for s in ordered])
    # For a cut before stroke k: the left side's extent and tallest stroke, and the right side's (running).
    left_low, left_high = np.minimum.accumulate(lows)[:-1], np.maximum.accumulate(highs)[:-1]
    right_low, right_high = np.minimum.accumulate(lows[::-1])[::-1][1:], np.maximum.accumulate(highs[::-1])[::-1][1:]
    left_tall, right_tall = np.maximum.accumulate(spans)[:-1], np.maximum.accumulate(spans[::-1])[::-1][1:]
    overlap = left_high - right_low
    narrower = np.minimum(left_high - left_low, right_high - right_low)
    tall = np.minimum(left_tall, right_tall)
    allowed = ((width >= APART_WIDTH * height) & (tall >= 0.5) & (overlap <= 0.25 * narrower)) | (
        (tall >= UPRIGHT) & (overlap <= TOUCHING * height))
    if not allowed.any():
        return [part]
    cut = int(np.argmin(np.where(allowed, overlap, np.inf))) + 1
    return _apart(ordered[:cut]) + _apart(ordered[cut:])


def _closest(a, b):
    """The shortest distance between two strokes' points."""
    if len(a) * len(b) > 250_000:  # bounded cost: every other point of very long strokes
        a, b = a[::2], b[::2]
    return float(np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=2).min()))


class _Path(NamedTuple):
    """The pen's path drawn one pixel wide, around the strokes only (a digit covers a fraction of the
    canvas): False on the path."""

    background: np.ndarray  # bool (h, w), the box of the path and a brush's reach around it
    top: int
    left: int
    canvas: tuple  # (H, W) px of the whole canvas as rendered
    radius: float  # the brush's, px


def _draw_path(strokes: Strokes) -> _Path:
    scale = min(1.0, RENDER_SIDE / max(strokes.width, strokes.height))
    canvas = (max(1, round(strokes.height * scale)), max(1, round(strokes.width * scale)))
    radius = max(0.5, BRUSH * max(strokes.width, strokes.height) * scale / 2)
    if not strokes.strokes:
        return _Path(np.ones((1, 1), bool), 0, 0, canvas, radius)
    points = np.concatenate(strokes.strokes) * scale
    margin = int(np.ceil(radius)) + 2
    left, top = np.maximum(np.floor(points.min(axis=0)).astype(int) - margin, 0)
    right, bottom = np.minimum(np.ceil(points.max(axis=0)).astype(int) + margin + 1, canvas[::-1])
    # Drawn shifted into the box by whole pixels: the same pixels as on the whole canvas.
    path = Image.new("1", (max(1, right - left), max(1, bottom - top)), 1)
    pen = ImageDraw.Draw(path)
    for stroke in strokes.strokes:
        at = (stroke * scale - (left, top)).ravel().tolist()
        pen.line(at if len(at) > 2 else at * 2, fill=0)
    return _Path(np.asarray(path), int(top), int(left), canvas, radius)


def _brush_ink(distance, radius):
    """uint8 ink of the pad's round brush at each distance from the path: 255 within the radius, an
    anti-aliased pixel at its edge."""
    return (np.clip(radius + 0.5 - distance, 0, 1) * 255).round()


def render_strokes(strokes: Strokes) -> np.ndarray:
    """uint8 (H, W) ink (255) on black: the strokes drawn with the pad's round brush, as its canvas
    shows them (scaled down to RENDER_SIDE px for canvases larger than that).

    The pen's path is drawn one pixel wide, then every pixel within the brush's radius of it is inked
    (a distance transform): round ends and joints at a cost that does not grow with the number of
    points (Pillow's round joints cost 20 us a point, 0.4 s for the largest drawing allowed).
    """
    path = _draw_path(strokes)
    ink = np.zeros(path.canvas, np.uint8)
    if path.background.all():
        return ink
    height, width = path.background.shape
    ink[path.top : path.top + height, path.left : path.left + width] = _brush_ink(
        distance_to_ink(path.background), path.radius)
    return ink


def distance_to_ink(background: np.ndarray) -> np.ndarray:
    """float64: each pixel's Euclidean distance to the nearest False pixel of the boolean `background`,
    exactly as scipy's `ndimage.distance_transform_edt(background)` gives it, four times faster:
    OpenCV's exact transform (Felzenszwalb's, in float32), its squares rounded back to the whole
    numbers they are, and the root taken again in float64, so every reading stays bit for bit."""
    distance = cv2.distanceTransform(np.ascontiguousarray(background).view(np.uint8), cv2.DIST_L2,
                                     cv2.DIST_MASK_PRECISE)
    return np.sqrt(np.rint(np.square(distance, dtype=np.float64)))


def read_strokes(value) -> Drawing:
    """The pad's strokes read like a drawing: the 28x28 that `read_drawing(render_strokes(...))` gives,
    bit for bit (its canvas image read), from the strokes' ink alone."""
    return _read_stroke_ink(check_strokes(value))


def _read_stroke_ink(strokes: Strokes) -> Drawing:
    """`read_drawing` of the rendered strokes without rendering them: read_drawing keeps the pixels
    inked over a third of the brush's full ink (the pen's path is always full ink), and those are the
    pixels within a fixed distance of the path: a dilation of the path by a disc (OpenCV), with no
    distance to compute. Only where the rendered canvas is mostly ink (a brush wider than the canvas
    is high) does reading it as an image differ: its background is then taken for the ink."""
    path = _draw_path(strokes)
    if path.background.all():  # no stroke, or none within the canvas' pixels: an empty canvas
        return Drawing(np.zeros((SIZE, SIZE), np.float32), 0.0)
    ink = cv2.dilate((~path.background).view(np.uint8), _inked_disc(path.radius)).view(bool)
    rows, cols = np.nonzero(ink.any(axis=1))[0], np.nonzero(ink.any(axis=0))[0]
    crop = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    return Drawing(_normalise(crop), max(crop.shape) / max(path.canvas))


@functools.lru_cache(maxsize=16)
def _inked_disc(radius):
    """uint8 (0/1) disc of the offsets from the path that the brush of `radius` inks over a third of its
    full ink (read_drawing's threshold): made once per brush size (one for the pad), not per drawing."""
    reach = int(np.ceil(radius + 0.5))
    dy, dx = np.mgrid[-reach : reach + 1, -reach : reach + 1]
    return (_brush_ink(np.sqrt(dy * dy + dx * dx), radius) > int(_brush_ink(0.0, radius)) // 3).astype(np.uint8)


def read(drawing) -> Drawing:
    """Whatever the user drew: the pad's strokes (a dict with "strokes", or already checked `Strokes`),
    a sketchpad value or an image."""
    if isinstance(drawing, Strokes):
        return _read_stroke_ink(drawing)
    if isinstance(drawing, dict) and "strokes" in drawing:
        return read_strokes(drawing)
    return read_drawing(drawing)


def fit_strokes(strokes, side=PAD_SIDE, height=0.6) -> dict:
    """A pad value of pen strokes in any units (a tablet's, y pointing down): scaled so the digit is
    `height` of a side x side canvas high (its width at most that), in the middle."""
    points = np.concatenate(strokes).astype(np.float64)
    low, span = points.min(axis=0), np.ptp(points, axis=0)
    scale = height * side / max(span[1], span[0], 1e-9)
    offset = (side - span * scale) / 2
    return {"strokes": [np.round((np.asarray(s, np.float64) - low) * scale + offset, 1).tolist() for s in strokes],
            "width": side, "height": side}


def flatten(image):
    """The one image a drawing stands for: a sketchpad value's composite, or, when it has none or a
    blank one (an example loaded as the background), its layers over its background; any other
    image as it is."""
    if not isinstance(image, dict):  # gr.Sketchpad / gr.ImageEditor values are dicts
        return image
    composite = image.get("composite")
    if composite is not None and int(ink_strength(composite).max()) >= MIN_CONTRAST:
        return composite
    return _flatten_editor_value(image)


def read_drawing(image) -> Drawing:
    strength = ink_strength(flatten(image))
    # The ink's box from per-row, then per-column peaks: no full-size temporary arrays.
    row_peaks = strength.max(axis=1)
    peak = int(row_peaks.max())
    if peak < MIN_CONTRAST:  # nothing stands out from the background: an empty canvas
        return Drawing(np.zeros((SIZE, SIZE), np.float32), 0.0)
    threshold = peak // 3
    rows = np.nonzero(row_peaks > threshold)[0]
    band = strength[rows[0] : rows[-1] + 1]
    cols = np.nonzero(band.max(axis=0) > threshold)[0]
    crop = band[:, cols[0] : cols[-1] + 1] > threshold
    extent = max(crop.shape) / max(strength.shape)
    return Drawing(_normalise(crop), extent)


def ink_strength(image) -> np.ndarray:
    """uint8 (H, W): how much ink each pixel holds (0 = background), whatever the colours and format."""
    pixels = as_uint8(image)
    if min(pixels.shape[:2]) < MIN_SIDE:
        height, width = pixels.shape[:2]
        raise DrawingError(f"The image is {width}x{height} px; DigitPad needs at least {MIN_SIDE}x{MIN_SIDE}.")
    alpha = _alpha(pixels)
    # Transparent canvas (the sketchpad's own): what is drawn is whatever is opaque. (A contiguous
    # copy: the row and column peaks of a strided alpha view cost three times as much.)
    if alpha is not None and (alpha[::4, ::4] < 128).mean() > 0.5:
        return np.ascontiguousarray(alpha)
    gray = _gray(pixels)
    if alpha is not None:  # semi-transparent ink on an opaque canvas: composite over white
        gray = 255 - ((255 - gray.astype(np.uint16)) * alpha // 255).astype(np.uint8)
    # The background is the most common level; ink is whatever stands out from it, dark or light.
    background = int(np.median(gray[::4, ::4]))
    signed = gray.astype(np.int16) - background
    return (-signed if background >= 128 else signed).clip(0, 255).astype(np.uint8)


def check_size(width, height):
    """DrawingError, naming the size, for an image too large to be a drawing (see MAX_SIDE)."""
    if max(width, height) > MAX_SIDE or width * height > MAX_PIXELS:
        raise DrawingError(f"The image is {width}x{height} px; DigitPad accepts at most {MAX_SIDE}x{MAX_SIDE} px.")


def as_uint8(image) -> np.ndarray:
    """(H, W) or (H, W, C) uint8 from a Sketchpad value, a PIL image or a numpy array of any dtype."""
    if image is None:
        raise DrawingError("Draw a digit")
    if isinstance(image, dict):  # gr.Sketchpad / gr.ImageEditor value
        image = _flatten_editor_value(image)
    if isinstance(image, Image.Image):
        check_size(*image.size)  # before its pixels are decoded: a PIL image may still be a lazy file
        if image.mode not in ("L", "LA", "RGB", "RGBA", "I;16", "I", "F", "1"):
            image = image.convert("RGBA")
        image = np.asarray(image)
    if not isinstance(image, np.ndarray):
        raise DrawingError(f"Expected an image, got {type(image).__name__}.")
    if image.ndim >= 2:
        check_size(image.shape[1], image.shape[0])
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (2, 3, 4)):
        raise DrawingError(f"Expected a grayscale, RGB or RGBA image, got an array of shape {image.shape}.")
    if image.dtype == np.uint8:
        return image
    if image.dtype == bool:
        return image.astype(np.uint8) * 255
    values = np.nan_to_num(image.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0).clip(0, None)
    top = values.max(initial=0.0)
    if np.issubdtype(image.dtype, np.floating) and top <= 1.0:
        full = 1.0  # float images in [0, 1]
    elif top <= 255:
        full = 255.0  # 8-bit values in a wider type
    elif top <= 65535:
        full = 65535.0  # 16-bit images
    else:
        full = top
    return (values * (255.0 / full)).round().astype(np.uint8)


def _flatten_editor_value(value):
    """An ImageEditor value's layers over its background, as one RGBA image."""
    parts = [value.get("background")] + list(value.get("layers") or [])
    parts = [Image.fromarray(as_uint8(p)).convert("RGBA") if not isinstance(p, Image.Image) else p.convert("RGBA")
             for p in parts if p is not None]
    if not parts:
        raise DrawingError("Draw a digit")
    canvas = Image.new("RGBA", parts[0].size, (0, 0, 0, 0))
    for part in parts:
        canvas.alpha_composite(part.resize(canvas.size))
    return canvas


def _alpha(pixels):
    """The alpha plane, or None for images without one."""
    return pixels[..., -1] if pixels.ndim == 3 and pixels.shape[2] in (2, 4) else None


def _gray(pixels):
    """Luminance, uint8 (H, W)."""
    if pixels.ndim == 2:
        return pixels
    if pixels.shape[2] == 2:
        return pixels[..., 0]
    mode = "RGB" if pixels.shape[2] == 3 else "RGBA"
    return np.asarray(Image.fromarray(pixels, mode).convert("L"))


def _normalise(crop: np.ndarray) -> np.ndarray:
    """MNIST digit from the boolean ink of its bounding box."""
    strokes = _redraw_strokes(crop)
    # Fit the longer side in BOX px (at SCALE), keeping the aspect ratio.
    height, width = strokes.shape
    ratio = BOX * SCALE / max(height, width)
    size = (max(1, round(width * ratio)), max(1, round(height * ratio)))
    digit = np.asarray(Image.fromarray(strokes).resize(size, Image.BILINEAR))
    # Centre of mass to the MNIST centre, at SCALE resolution (a quarter-pixel in the result).
    canvas = np.zeros((SIZE * SCALE, SIZE * SCALE), np.float32)
    com_y, com_x = ndimage.center_of_mass(digit)
    top = int(round((CENTRE + 0.5) * SCALE - 0.5 - com_y))
    left = int(round((CENTRE + 0.5) * SCALE - 0.5 - com_x))
    top = min(max(top, 0), SIZE * SCALE - digit.shape[0])
    left = min(max(left, 0), SIZE * SCALE - digit.shape[1])
    canvas[top : top + digit.shape[0], left : left + digit.shape[1]] = digit
    # Area-average down to 28x28: the anti-aliased grey edges MNIST has.
    return canvas.reshape(SIZE, SCALE, SIZE, SCALE).mean(axis=(1, 3)).clip(0, 1).astype(np.float32)


def _redraw_strokes(crop: np.ndarray) -> np.ndarray:
    """The ink's skeleton redrawn with MNIST's pen, float32 in [0, 1], cropped to the new strokes.

    Works at a resolution where the longer side is about BOX * SCALE px: big crops are shrunk with a
    max filter so that thin lines cannot vanish, small ones are enlarged.
    """
    target = BOX * SCALE
    longest = max(crop.shape)
    if longest > 2 * target:
        # Max-pool: a box average of 0/255 that is > 0 wherever a line crosses the box.
        crop = np.asarray(Image.fromarray(crop.view(np.uint8) * np.uint8(255)).reduce(longest // target)) > 0
    if max(crop.shape) != target:
        ratio = target / max(crop.shape)
        size = (max(1, round(crop.shape[1] * ratio)), max(1, round(crop.shape[0] * ratio)))
        crop = np.asarray(Image.fromarray(crop.astype(np.uint8) * 255).resize(size, Image.BILINEAR)) > 96
    # A filled blob has no meaningful skeleton; keep its outline as strokes instead. (A thick, filled
    # bar is a "1" written with a broad pen: its outline would read as a 0, its skeleton is right.)
    if crop.mean() > MAX_INK and max(crop.shape) < MAX_BLOB_ASPECT * min(crop.shape):
        crop = crop ^ ndimage.binary_erosion(crop, iterations=2)
    pad = int(np.ceil(STROKE_RADIUS)) + 2
    skeleton = skeletonize(np.pad(crop, pad))
    if not skeleton.any():  # a single dot
        skeleton = np.pad(crop, pad)
    distance = distance_to_ink(~skeleton)
    strokes = np.clip(STROKE_RADIUS + 0.5 - distance, 0, 1).astype(np.float32)
    rows, cols = np.nonzero(strokes.any(axis=1))[0], np.nonzero(strokes.any(axis=0))[0]
    return strokes[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]

