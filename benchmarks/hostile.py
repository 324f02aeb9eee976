"""Hostile input against DigitPad on this machine: `python -m benchmarks.hostile [--url URL]`.

1. Images, through the `predict` API with `gradio_client` as a hostile caller would: small files that
   claim huge images (header bombs) and files that are not what they say, one at a time, then a flood
   of bombs at once (from a process of their own, as other visitors) while an honest caller sends ten
   drawings.
2. Strokes, as the page's pad sends them (one request answered directly, no queue): each kind of bad
   strokes (wrong nesting, NaN, strings, coordinates off the canvas, 10^6 points, 10^4 strokes, a
   10 MB body) one at a time, then FLOOD visitors (a process of their own) sending the largest
   drawings the limits allow, back to back, while an honest visitor draws ten real pen-written
   digits (a few requests while the pen moves, then the final one).
Prints how long each refusal took and what it said, the honest answers and their latencies, and the
server's resident memory before, at its peak and after. Without --url it starts `python app.py`
itself (and can then read the server's memory).

The file makers are also what tests/test_hostile.py sends.
"""

import argparse
import io
import struct
import threading
import time
import zlib
from pathlib import Path

from PIL import Image, PngImagePlugin

TARGETS = {"refusal_s": 0.5, "honest_s": 2.0, "peak_rss_mb": 1200, "stroke_refusal_s": 0.05, "stroke_honest_s": 0.5}
FLOOD = 30  # hostile visitors at once


# ---------------------------------------------------------------- hostile files


def _chunk(kind, payload):
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_bomb(width, height):
    """A valid all-black 1-bit PNG of width x height: a few tens of KB that decode to width*height pixels."""
    row = b"\x00" + bytes((width + 7) // 8)  # filter byte + one row of zero bits
    compressor = zlib.compressobj(9)
    body = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit grayscale
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", body) + _chunk(b"IEND", b"")


def jpeg_bomb(width, height):
    """A tiny JPEG whose frame header claims width x height (what a decoder would allocate)."""
    data = bytearray(_encoded(Image.new("L", (8, 8)), "JPEG"))
    frame = data.index(b"\xff\xc0")  # SOF0: marker, length (2), precision (1), height (2), width (2)
    data[frame + 5 : frame + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def webp_wide(width, height=8):
    """A real, tiny WebP far wider than any drawing (WebP itself stops at 16383 px a side)."""
    return _encoded(Image.new("L", (width, height)), "WEBP")


def png_text_bomb(megabytes=8):
    """A small PNG carrying a compressed text chunk that inflates to `megabytes` MB."""
    info = PngImagePlugin.PngInfo()
    info.add_text("comment", "A" * (megabytes << 20), zip=True)
    return _encoded(Image.new("L", (64, 64)), "PNG", pnginfo=info)


def gif_named_png():
    """A GIF (not a format a canvas exports) whose name says .png."""
    return _encoded(Image.new("L", (64, 64)), "GIF")


def _encoded(image, fmt, **options):
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


HOSTILE_FILES = {
    "png 12000x12000": ("bomb.png", lambda: png_bomb(12000, 12000)),
    "png 20000x20000": ("bomb.png", lambda: png_bomb(20000, 20000)),
    "jpeg 30000x30000 header": ("bomb.jpg", lambda: jpeg_bomb(30000, 30000)),
    "webp 16000x8": ("wide.webp", lambda: webp_wide(16000)),
    "png 1x100000": ("tall.png", lambda: png_bomb(1, 100000)),
    "png 100000x1": ("wide.png", lambda: png_bomb(100000, 1)),
    "png with an 8 MB text chunk": ("text.png", png_text_bomb),
    "gif named .png": ("lies.png", gif_named_png),
}


# ---------------------------------------------------------------- the run


def _payload(path):
    from gradio_client import handle_file

    return {"background": None, "layers": [], "composite": handle_file(str(path))}


def send(url, path):
    """(seconds, answer or error message) of one /predict call."""
    from gradio_client import Client

    client = Client(url, verbose=False)
    start = time.perf_counter()
    try:
        answer = client.predict(_payload(path), api_name="/predict")[5]
    except Exception as error:  # the refusal we expect: its message is what the caller reads
        answer = str(error)
    return time.perf_counter() - start, answer


# ---------------------------------------------------------------- floods, from a process of their own


class Flood:
    """`count` hostile callers at once, in a process of their own: as other visitors are, so that their
    clients' work (30 gradio_client Clients reading the app's config, say) does not hold the honest
    caller's interpreter and its GIL, and time counted as the server's. Started once the process is
    ready (its imports done); `end()` stops it where it does not end by itself and returns what it
    measured: `kind` "bombs": each caller sends the image at `target` once, [(seconds, answer)];
    "strokes": each, a visit of its own, sends the pad value `target` back to back until stopped,
    [(seconds, refused)]."""

    def __init__(self, kind, url, target, count=FLOOD):
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        self.connection, child = context.Pipe()
        self.process = context.Process(target=_flood, args=(kind, url, target, count, child), daemon=True)
        self.process.start()
        self.connection.recv()  # ready
        self.connection.send("go")

    def end(self):
        self.connection.send("stop")
        measured = self.connection.recv()
        self.process.join(timeout=30)
        return measured


def _flood(kind, url, target, count, connection):
    """The flood's process (see Flood)."""
    import gradio_client  # noqa: F401 (imported before the start: the flood starts at once)

    import digitpad.pad  # noqa: F401 (pad_body's empty pad value, imported before the start too)
    from benchmarks.server import pad_body, post_pad, verdict

    results, stop = [], threading.Event()

    def bomb(_):
        results.append(send(url, target))

    def strokes(visitor):
        body = pad_body(url, target, session=f"flood-{visitor}")
        while not stop.is_set():
            seconds, status, answer = post_pad(url, body)
            results.append((seconds, status == 503 or "busy" in verdict(answer)))

    connection.send("ready")
    connection.recv()
    threads = [threading.Thread(target=bomb if kind == "bombs" else strokes, args=(v,), daemon=True)
               for v in range(count)]
    for thread in threads:
        thread.start()
    # Told to stop by both kinds (the bombs' callers end by themselves): a process that ended first
    # would leave `Flood.end` writing to a closed pipe.
    connection.recv()
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    connection.send(results)


# ---------------------------------------------------------------- hostile strokes


def largest_drawing(seed=0):
    """The largest drawing the stroke limits allow (200 strokes, 5,000 points): the most work one
    request can ask for."""
    import numpy as np

    rng = np.random.default_rng(seed)
    strokes = []
    for _ in range(200):
        steps = rng.uniform(-1.4, 1.4, (24, 2))
        points = np.clip(rng.uniform(20, 260, 2) + np.concatenate([[[0, 0]], np.cumsum(steps, axis=0)]), 0, 280)
        strokes.append(np.round(points, 1).tolist())
    return {"strokes": strokes, "width": 280, "height": 280}


BAD_STROKES = {
    "not a list": lambda: [1, 2, 3],
    "wrong nesting": lambda: {"strokes": [[1, 2], [3, 4]]},
    "strings": lambda: {"strokes": [[["a", "b"]]]},
    "NaN": lambda: {"strokes": [[[float("nan"), 1.0]]]},
    "negative coordinates": lambda: {"strokes": [[[-5, 1], [10, 10]]]},
    "huge coordinates": lambda: {"strokes": [[[1e12, 1], [10, 10]]]},
    "10^4 strokes": lambda: {"strokes": [[[1, 1]]] * 10_000},
    "10^6 points": lambda: {"strokes": [[[1, 1]] * 1_000_000]},
    "a 10 MB body": lambda: {"strokes": [[[1.0, 1.0]] * 700_000], "padding": "x" * 2_000_000},
}


def pen_digits(count=10):
    """[(label, [pad values: a few while the pen moves, then the final one])] of real pen-written digits."""
    from benchmarks.server import ROOT
    from digitpad import unipen

    pen = unipen.load(ROOT / "tests" / "fixtures" / "unipen_sample.npz")
    drawings = []
    for i in range(0, len(pen.labels), len(pen.labels) // count)[:count]:
        value = unipen.pad_value(pen.strokes[i])
        points = [p for stroke in value["strokes"] for p in stroke]
        live = [{**value, "strokes": [points[: len(points) * k // 4]], "live": True} for k in (1, 2, 3)]
        drawings.append((int(pen.labels[i]), live + [value]))
    return drawings


def stroke_run(url, memory, peak):
    from benchmarks.server import pad_request, verdict

    failed = False
    print(f"\n{'strokes sent as the pad sends them':<34}{'answered in':>14}  what the visitor read")
    for name, make in BAD_STROKES.items():
        seconds, status, answer = pad_request(url, make(), session=f"bad-{name}")
        said = verdict(answer) or answer.get("error", "")
        said = said.split("'verdict empty'>")[-1].split("</div>")[0]
        print(f"{name:<34}{seconds:>13.3f}s  {status} {said[:90]}")
        failed |= seconds > TARGETS["stroke_refusal_s"] or not said  # refused in time, saying why
    heavy = largest_drawing()
    seconds, _, answer = pad_request(url, heavy, session="heavy-alone")
    print(f"{'the largest drawing allowed, alone':<34}{seconds:>13.3f}s  {len(str(heavy)) >> 10} KB of strokes")

    flood = Flood("strokes", url, heavy)
    time.sleep(1.0)  # the flood is on
    honest_times, honest_right = [], 0
    during = {}
    for label, values in pen_digits():
        for value in values:
            seconds, status, answer = pad_request(url, value, session="honest")
        honest_times.append(seconds)  # the final drawing's answer
        honest_right += f"<b>{label}</b>" in verdict(answer)
    for name in ("10^6 points", "NaN", "10^4 strokes"):
        during[name] = pad_request(url, BAD_STROKES[name](), session=f"bad-during-{name}")[0]
    answered = flood.end()
    refusals = [seconds for seconds, refused in answered if refused]
    print(f"\n{FLOOD} visitors sending the largest drawing back to back: {len(answered)} answered, "
          f"{len(refusals)} of them told the server was busy (slowest refusal "
          f"{max(refusals, default=0) * 1000:.0f} ms)")
    print(f"honest visitor meanwhile: {honest_right}/10 right, slowest {max(honest_times):.3f} s, "
          f"median {sorted(honest_times)[5]:.3f} s")
    print("bad strokes during the flood: " + ", ".join(f"{n} refused in {s * 1000:.0f} ms" for n, s in during.items()))
    print(f"server memory: {peak[0]:.0f} MB peak so far, {memory():.0f} MB after")
    return failed or honest_right < 10 or max(honest_times) > TARGETS["stroke_honest_s"] \
        or max(during.values()) > TARGETS["stroke_refusal_s"]


# ---------------------------------------------------------------- the run


def main(argv=None):
    from benchmarks import load
    from benchmarks.server import APP, resident_mb, start_server, stop

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running app (default: start `python app.py` here)")
    parser.add_argument("--bombs", type=int, default=30)
    args = parser.parse_args(argv)
    folder = Path(load.make_drawings(10)[0][0]).parent
    honest = load.make_drawings(10, folder)
    bombs = {}
    for name, (filename, make) in HOSTILE_FILES.items():
        bombs[name] = folder / f"{len(bombs)}_{filename}"
        bombs[name].write_bytes(make())

    process = None
    if args.url:
        url = args.url
    else:
        process, url, _, _ = start_server(APP)
    memory = (lambda: resident_mb(process.pid)) if process else (lambda: float("nan"))
    peak = [0.0]
    watching = threading.Event()

    def watch():
        while not watching.is_set():
            peak[0] = max(peak[0], memory())
            time.sleep(0.02)

    failed = False
    try:
        send(url, honest[0][0])  # the models are loaded
        before = memory()
        threading.Thread(target=watch, daemon=True).start()
        print(f"{'images sent to the predict API':<34}{'size':>9}{'answered in':>14}  what the caller read")
        for name, path in bombs.items():
            seconds, answer = send(url, path)
            print(f"{name:<34}{path.stat().st_size / 1024:>7.0f}KB{seconds:>13.3f}s  {answer[:90]}")
            failed |= seconds > TARGETS["refusal_s"]
        flood = Flood("bombs", url, bombs["png 12000x12000"], args.bombs)
        honest_times, honest_right = [], 0
        for path, digit in honest:
            seconds, answer = send(url, path)
            honest_times.append(seconds)
            honest_right += f"<b>{digit}</b>" in answer
        results = flood.end()
        refused = sum("accepts at most" in answer for _, answer in results)
        print(f"\n{args.bombs} x png 12000x12000 at once: {refused} refused with the size, slowest "
              f"{max(s for s, _ in results):.2f} s")
        print(f"honest caller meanwhile: {honest_right}/10 right, slowest {max(honest_times):.2f} s, "
              f"median {sorted(honest_times)[5]:.2f} s")
        after_seconds, after = send(url, honest[1][0])
        print(f"afterwards: answered in {after_seconds:.2f} s: {after[:60]}")
        failed |= (honest_right < 10 or max(honest_times) > TARGETS["honest_s"] or refused < args.bombs)
        failed |= stroke_run(url, memory, peak)
        watching.set()
        print(f"\nserver memory: {before:.0f} MB before, {peak[0]:.0f} MB peak, {memory():.0f} MB after")
        failed |= peak[0] > TARGETS["peak_rss_mb"]
    finally:
        watching.set()
        if process:
            stop(process)
    print("\nall targets met" if not failed else "\nSOME TARGETS MISSED")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
