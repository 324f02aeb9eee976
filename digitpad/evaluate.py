"""Measure the committed models: `python -m digitpad.evaluate [--data PATH] [--data-dir DIR] [--drawn N]`.

Per model, on digits it never trained on:
- pen-written digits of held-out writers: UNIPEN's validation writers (a whole site and one writer in
  five of the others; see `digitpad.unipen`), read from their strokes by `preprocess.read_strokes`
  exactly as the pad's drawings are;
- real handwriting, read by `preprocess.to_mnist` like a drawing: the 2,007 USPS test digits (US zip
  codes; never trained on, never chosen on) and the held-out real slice (semeion's held-out cycle
  and optdigits' test part: writers MNIST never saw; see `digitpad.handwriting`);
- the 10,000 MNIST test digits;
- drawn canvases: MNIST test digits redrawn as sketchpad strokes by `digitpad.drawn`, then read by
  `to_mnist` (MNIST's own styles: they measure brush, size and position, not handwriting).
Also the accuracy on each validation set the recipe was chosen on, each model's confusion matrix
and its most confident mistakes. Writes weights/metrics.json and weights/mistakes.npz and prints a table.
"""

import argparse
import datetime
import json
import platform
from pathlib import Path

import numpy as np

from digitpad import data, drawn, handwriting, preprocess, unipen
from digitpad.catalog import DISPLAY_NAMES, MODEL_NAMES
from digitpad.inference import Predictor

DRAWN_COUNT = 2000
MISTAKES_SHOWN = 12


def drawn_digits(images, labels, count, seed):
    """(x, y): `count` digits rendered as sketchpad canvases and read back by to_mnist, on all cores."""
    count = min(count, len(images))
    chunks = [(images[i : min(i + 250, count)], labels[i : min(i + 250, count)], seed + i) for i in range(0, count, 250)]
    return data.map_in_processes(_read_canvases, chunks, count, "canvas"), labels[:count]


def _read_canvases(chunk):
    images, labels, seed = chunk
    return np.stack([preprocess.to_mnist(np.asarray(c)) for c, _ in drawn.canvases(images, labels, len(images), seed)])


def scores(probabilities, labels):
    """(accuracy, mean cross-entropy) of (N, 10) probabilities."""
    accuracy = float((probabilities.argmax(axis=1) == labels).mean())
    loss = float(-np.log(probabilities[np.arange(len(labels)), labels].clip(1e-7)).mean())
    return accuracy, loss


def confusion(probabilities, labels):
    """10x10 counts, rows the true digit, columns the prediction."""
    matrix = np.zeros((10, 10), np.int64)
    np.add.at(matrix, (labels, probabilities.argmax(axis=1)), 1)
    return matrix


def worst_mistakes(probabilities, labels, count=MISTAKES_SHOWN):
    """Indices of the most confident wrong answers, most confident first."""
    predicted = probabilities.argmax(axis=1)
    wrong = np.nonzero(predicted != labels)[0]
    return wrong[np.argsort(-probabilities[wrong, predicted[wrong]])][:count]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="local MNIST .npz (default: $DIGITPAD_MNIST or the Keras download)")
    parser.add_argument("--data-dir", help="folder of the real-handwriting sets (default: $DIGITPAD_DATA or "
                        "../shared/data)")
    parser.add_argument("--weights-dir", default="weights")
    parser.add_argument("--drawn", type=int, default=DRAWN_COUNT, help="drawn canvases per set")
    parser.add_argument("--drawings", metavar="URL", help="only measure on the labelled drawings of this store "
                        "(an SQLAlchemy URL, see digitpad.drawings)")
    parser.add_argument("--record", action="store_true", help="with --drawings: add the result to metrics.json")
    args = parser.parse_args(argv)
    weights = Path(args.weights_dir)
    if args.drawings:
        return evaluate_drawings(args.drawings, weights, args.record)

    (x_train, y_train), (x_test, y_test) = data.load_mnist(args.data)
    _, (x_val, y_val) = data.split_validation(x_train, y_train)
    print(f"Rendering and reading {args.drawn} drawn canvases of MNIST test digits:")
    x_drawn, y_drawn = drawn_digits(x_test, y_test, args.drawn, seed=1)
    print(f"... and {args.drawn} of the held-out training digits:")
    x_drawn_val, y_drawn_val = drawn_digits(x_val, y_val, args.drawn, seed=2)

    print("Reading the real handwriting (digitpad.handwriting):")
    real = handwriting.splits(args.data_dir)
    held_out = handwriting.held_out_digits(args.data_dir)
    print("Reading the held-out pen writers' strokes (digitpad.unipen):")
    _, pen_validation = unipen.split(unipen.load(args.data_dir))
    pen = unipen.read_all(pen_validation)

    predictor = Predictor(weights)
    on_real = {name: predictor.predict_batch(digits.x) for name, digits in real.items()}
    on_held_out = predictor.predict_batch(held_out.x)
    on_pen = predictor.predict_batch(pen.x)
    on_mnist = predictor.predict_batch(x_test)
    on_drawn = predictor.predict_batch(x_drawn)
    on_drawn_val = predictor.predict_batch(x_drawn_val)
    training_log_path = weights / "training.json"
    training = json.loads(training_log_path.read_text()) if training_log_path.exists() else {}

    results, mistakes = {}, {}
    for key in MODEL_NAMES:
        accuracy, loss = scores(on_mnist[key], y_test)
        log = training.get(key, {})
        results[key] = {
            "name": DISPLAY_NAMES[key],
            "pen_held_out_accuracy": scores(on_pen[key], pen.y)[0],
            "pen_held_out_writer_mean_accuracy": writer_mean(on_pen[key], pen.y, pen_validation.writers),
            "usps_test_accuracy": scores(on_real["usps_test"][key], real["usps_test"].y)[0],
            "real_held_out_accuracy": scores(on_held_out[key], held_out.y)[0],
            "validation_accuracy": {name: scores(on_real[name][key], real[name].y)[0]
                                    for name in handwriting.VALIDATION},
            "mnist_accuracy": accuracy,
            "mnist_loss": loss,
            "drawn_accuracy": scores(on_drawn[key], y_drawn)[0],
            "drawn_validation_accuracy": scores(on_drawn_val[key], y_drawn_val)[0],
            "parameters": int(predictor.models[key].count_params()),
            "epochs": log.get("epochs"),
            "training_seconds": log.get("seconds"),
            "recipe": log.get("recipe"),
            "confusion": confusion(on_mnist[key], y_test).tolist(),
        }
        worst = worst_mistakes(on_mnist[key], y_test)
        mistakes[f"{key}_images"] = (x_test[worst] * 255).round().astype(np.uint8)
        mistakes[f"{key}_labels"] = y_test[worst]
        mistakes[f"{key}_predicted"] = on_mnist[key][worst].argmax(axis=1)
        mistakes[f"{key}_confidence"] = on_mnist[key][worst].max(axis=1)

    metrics = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()} CPU, {platform.system()}, TensorFlow {__import__('tensorflow').__version__}",
        "mnist_test_digits": len(y_test),
        "usps_test_digits": len(real["usps_test"].y),
        "real_held_out_digits": len(held_out.y),
        "pen_held_out_digits": len(pen.y),
        "pen_held_out_writers": len(np.unique(pen_validation.writers)),
        "pen_description": ("Held-out pen writers: UNIPEN train_r01_v07 (International Unipen Foundation, CC BY "
                            "4.0; Guyon et al., ICPR 1994), the writers of site " + unipen.HELD_OUT_SITE + " and one "
                            "writer in five of the other sites, never trained on, read from their strokes by "
                            "preprocess.read_strokes like the pad's drawings. Writer mean: each writer counts once."),
        "real_description": ("USPS test: 2,007 US zip-code digits (J. J. Hull, CEDAR), never trained on. Held-out "
                             "real slice: semeion's fourth cycle and optdigits' test part, never trained on. "
                             "Both read through preprocess.to_mnist like a drawing."),
        "drawn_canvases": len(y_drawn),
        "drawn_description": drawn.__doc__.split("\n\n")[1].replace("\n", " "),
        "models": results,
    }
    earlier = _read_json(weights / "metrics.json")
    if "drawings" in earlier:  # measured by --drawings on a store this run does not read: keep it
        metrics["drawings"] = earlier["drawings"]
    (weights / "metrics.json").write_text(json.dumps(metrics, indent=1))
    np.savez_compressed(weights / "mistakes.npz", **mistakes)
    print_table(results)


def _read_json(path):
    return json.loads(path.read_text()) if path.exists() else {}


def evaluate_drawings(url, weights, record=False):
    """The committed models on the drawings people labelled (digitpad.drawings): a table, and with
    `record` a "drawings" entry in metrics.json (count, per-model accuracy, date)."""
    from digitpad.drawings import DrawingStore

    x, y, _ = DrawingStore(url).rows()
    if not len(y):
        print(f"No labelled drawings in {url}.")
        return
    on_drawings = Predictor(weights).predict_batch(x / 255.0)
    accuracy = {key: scores(on_drawings[key], y)[0] for key in MODEL_NAMES}
    print(f"\n{len(y):,} labelled drawings in {url}; per digit: {np.bincount(y, minlength=10).tolist()}")
    print(f"{'model':<30}{'accuracy':>10}")
    for key in MODEL_NAMES:
        print(f"{DISPLAY_NAMES[key]:<30}{accuracy[key]:>10.2%}")
    if record:
        path = weights / "metrics.json"
        metrics = _read_json(path)
        metrics["drawings"] = {"count": len(y), "accuracy": accuracy, "date": datetime.date.today().isoformat()}
        path.write_text(json.dumps(metrics, indent=1))
        print(f"recorded in {path}")


def writer_mean(probabilities, labels, writers):
    """Accuracy per writer, averaged over the writers: a prolific writer counts once."""
    right = probabilities.argmax(axis=1) == labels
    return float(np.mean([right[writers == w].mean() for w in np.unique(writers)]))


def print_table(results):
    print(f"\n{'model':<30}{'pen writers':>12}{'(per writer)':>13}{'USPS test':>10}{'real held-out':>15}"
          f"{'MNIST test':>12}{'loss':>8}{'drawn':>9}{'drawn (val)':>13}{'params':>9}{'epochs':>8}")
    for key, r in results.items():
        print(f"{r['name']:<30}{r['pen_held_out_accuracy']:>12.2%}{r['pen_held_out_writer_mean_accuracy']:>13.2%}"
              f"{r['usps_test_accuracy']:>10.2%}{r['real_held_out_accuracy']:>15.2%}"
              f"{r['mnist_accuracy']:>12.2%}{r['mnist_loss']:>8.3f}{r['drawn_accuracy']:>9.2%}"
              f"{r['drawn_validation_accuracy']:>13.2%}{r['parameters']:>9,}{r['epochs'] or '-':>8}")
    print(f"\n{'validation (the recipe was chosen on these)':<44}" + "".join(f"{name:>20}" for name in handwriting.VALIDATION))
    for key, r in results.items():
        print(f"{r['name']:<44}" + "".join(f"{r['validation_accuracy'][name]:>20.2%}" for name in handwriting.VALIDATION))


if __name__ == "__main__":
    main()
