"""Speed of DigitPad in process and over HTTP: `python -m benchmarks.http [--requests 2000] [--skip-http]`.

1. In process: `Predictor.predict` on a 280x280 RGBA canvas (preprocessing, all five models, every
   model's shown layers, as the page asks for them) against the usual way, one `model.predict` per
   model; the server's work per drawing on the page, pen strokes in -> every view's data out as the
   response carries it (`DigitPad.read`, then each view's postprocessing and the JSON encoding, for
   real pen-written digits); and `DrawingStore.add` of a drawing's strokes into SQLite.
2. Over HTTP, `python app.py` against a no-op Gradio app with the same sketchpad input for its
   `predict` API, both started the same way: cold start (until the page answers, and until the first
   drawing is answered: the app loads TensorFlow and its models once its page is up), one caller's
   latency, then `benchmarks.load` with 16 concurrent callers (errors, lost and wrong answers,
   throughput), and the app's resident memory.
Prints one table with medians, p95 and ratios, and the machine it ran on. What a person waits in the
browser: `python -m benchmarks.browser`.
"""

import argparse
import asyncio
import sys
import time

import numpy as np

from benchmarks import load
from benchmarks.server import APP, ROOT, machine, noop_command, resident_mb, start_server, stop


def timings(function, runs):
    """Seconds per call, after two warm-up calls."""
    function(), function()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        samples.append(time.perf_counter() - start)
    return np.array(samples)


def bench_in_process(runs):
    from digitpad import drawn
    from digitpad.catalog import MODEL_NAMES
    from digitpad.inference import Predictor

    with np.load(ROOT / "tests" / "fixtures" / "mnist_test_sample.npz") as data:
        digit = data["x"][0] / 255.0
    canvas = np.asarray(drawn.draw(digit, brush=10, height=0.6))
    predictor = Predictor(ROOT / "weights")
    # As the page asks: every model's probabilities and shown layers, kept for the views.
    fused = timings(lambda: predictor.predict(canvas, layers_of=MODEL_NAMES), runs)

    def one_predict_per_model():
        from digitpad.preprocess import to_mnist

        image = to_mnist(canvas)[None]
        return [model.predict(image, verbose=0) for model in predictor.models.values()]

    separate = timings(one_predict_per_model, max(10, runs // 10))
    from digitpad import unipen

    strokes = unipen.pad_value(unipen.load(ROOT / "tests" / "fixtures" / "unipen_sample.npz").strokes[0])
    return fused, separate, bench_store(strokes, predictor.predict(strokes).probabilities, runs)


def bench_page_reading(runs):
    """Seconds per drawing of the server's work behind the page's one request: the pad's strokes of a
    real pen-written digit in, `DigitPad.read` (its views made as the page's components take them: the
    event skips Gradio's postprocessing) and the JSON encoding of the response."""
    import gradio as gr
    import orjson

    from digitpad import ui, unipen

    pen = unipen.load(ROOT / "tests" / "fixtures" / "unipen_sample.npz")
    values = [unipen.pad_value(strokes) for strokes in pen.strokes[:50]]
    demo = ui.build_demo()
    page_read = next(d for d in demo.fns.values() if d.fn.__name__ == "read")
    outputs = [demo.blocks[o._id] if hasattr(o, "_id") else demo.blocks[o] for o in page_read.outputs]
    app = page_read.fn.__self__
    app.predictor  # the models are loaded
    loop = asyncio.new_event_loop()  # the server's: the handler's batch reader lives on it

    def one(value):
        # The event sends the views as the page takes them (no postprocessing), so the answer is encoded
        # as it is; the session's State and skipped views are not sent.
        answer = loop.run_until_complete(app.read(value, "cnn_batchnorm", None, None))
        data = [result for component, result in zip(outputs, answer)
                if not isinstance(component, gr.State) and result != gr.skip()]
        return orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY)

    samples = []
    for i in range(runs):
        start = time.perf_counter()
        one(values[i % len(values)])
        samples.append(time.perf_counter() - start)
    return np.array(samples[2:])


def bench_store(drawing, probabilities, runs):
    """Seconds per `DrawingStore.add` of one drawing into a fresh SQLite store (WAL), as the page saves."""
    import tempfile

    from digitpad.drawings import DrawingStore

    with tempfile.TemporaryDirectory() as folder:
        store = DrawingStore(f"sqlite:///{folder}/drawings.sqlite")
        return timings(lambda: store.add(drawing, 3, probabilities, "bench"), runs)


def bench_server(command, requests, concurrency):
    from gradio_client import Client

    drawings = load.make_drawings()
    process, url, start, cold = start_server(command)
    try:
        client = Client(url, verbose=False)
        client.predict(load.payload(drawings[0][0]), api_name="/predict")
        ready = time.perf_counter() - start  # the first drawing answered
        # One caller: each drawing once (these answers are the reference), then repeated for timing.
        expected = [client.predict(load.payload(path), api_name="/predict") for path, _ in drawings]
        single = timings(lambda: client.predict(load.payload(drawings[0][0]), api_name="/predict"), 100)
        loaded = load.run(url, drawings, requests, concurrency, expected)
        memory = resident_mb(process.pid)
    finally:
        stop(process)
    return {"cold": cold, "ready": ready, "single": single, "load": loaded, "memory": memory, "expected": expected,
            "drawings": drawings}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300, help="in-process calls to time")
    parser.add_argument("--requests", type=int, default=2000, help="drawings sent by the concurrent callers")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--skip-http", action="store_true")
    args = parser.parse_args(argv)

    fused, separate, store = bench_in_process(args.runs)
    server = bench_page_reading(args.runs)
    ms = lambda values, q: np.percentile(values, q) * 1000  # noqa: E731
    rows = [
        ("Predictor.predict, 280x280 canvas, 5 models", f"{ms(fused, 50):.2f} ms", f"{ms(fused, 95):.2f} ms",
         f"{np.median(separate) / np.median(fused):.0f}x faster"),
        ("  same with one model.predict per model", f"{ms(separate, 50):.1f} ms", f"{ms(separate, 95):.1f} ms", ""),
        ("server per drawing: strokes in, every view out, encoded", f"{ms(server, 50):.1f} ms",
         f"{ms(server, 95):.1f} ms", ""),
        ("DrawingStore.add, SQLite (WAL)", f"{ms(store, 50):.2f} ms", f"{ms(store, 95):.2f} ms", ""),
    ]
    failed = (np.median(fused) > 0.005 or np.median(separate) / np.median(fused) < 30 or np.median(store) > 0.005
              or np.median(server) > 0.030)
    if not args.skip_http:
        app = bench_server(APP, args.requests, args.concurrency)
        noop = bench_server(noop_command("api"), args.requests, args.concurrency)
        lone = np.median(app["single"]) / np.median(noop["single"])
        flow = app["load"]["throughput"] / noop["load"]["throughput"]
        check = _check_answers(app)
        for name, run in (("app", app), ("no-op", noop)):
            load = run["load"]
            rows += [
                (f"HTTP {name}: one caller", f"{ms(run['single'], 50):.0f} ms", f"{ms(run['single'], 95):.0f} ms",
                 f"{lone:.2f}x no-op" if name == "app" else ""),
                (f"HTTP {name}: {args.concurrency} callers, {load['requests']} drawings",
                 f"{load['throughput']:.1f}/s ({load['p50_ms']:.0f} ms)", f"{load['p95_ms']:.0f} ms",
                 f"{flow:.2f}x no-op" if name == "app" else ""),
                ("  errors / lost / wrong answers", f"{load['errors']} / {load['lost']} / {load['wrong']}", "", ""),
                ("  cold start: page up / first answer", f"{run['cold']:.1f} s", f"{run['ready']:.1f} s", ""),
                ("  resident memory", f"{run['memory']:.0f} MB", "", ""),
            ]
        a = app["load"]
        failed |= (lone > 1.15 or flow < 0.9 or a["errors"] or a["lost"] or a["wrong"] or not check
                   or app["cold"] > 8 or app["memory"] > 900)
        if a["first_errors"]:
            print("first errors:", *a["first_errors"], sep="\n  ")
    print(f"\nDigitPad benchmark on {machine()}")
    print(f"{'':<56}{'median':>20}{'p95':>12}{'':>16}")
    for name, median, p95, note in rows:
        print(f"{name:<56}{median:>20}{p95:>12}{note:>16}")
    print("\nall targets met" if not failed else "\nSOME TARGETS MISSED (see the issue's targets)")
    return 1 if failed else 0


def _check_answers(app):
    """The reference answers themselves must be right: the app's CNN panel says what the
    in-process Predictor says for each drawing."""
    from PIL import Image

    from digitpad.inference import Predictor

    predictor = Predictor(ROOT / "weights")
    for (path, _), answer in zip(app["drawings"], app["expected"]):
        top = int(predictor.predict(np.asarray(Image.open(path))).probabilities["cnn_batchnorm"].argmax())
        if answer[4]["label"] != str(top):
            return False
    return True


if __name__ == "__main__":
    sys.exit(main())
