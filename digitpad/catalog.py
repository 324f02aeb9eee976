"""The five models by name, and the weight files that hold them — without importing TensorFlow.

The page is built from this alone, so it can answer while TensorFlow (four seconds to import on
a 2-core CPU) and the models load in the background.
"""

import json
import zipfile
from pathlib import Path

MODEL_NAMES = ["perceptron", "mlp", "mlp_dropout", "cnn", "cnn_batchnorm"]

DISPLAY_NAMES = {
    "perceptron": "Single-layer perceptron",
    "mlp": "Multi-layer perceptron",
    "mlp_dropout": "MLP + dropout + LR decay",
    "cnn": "CNN",
    "cnn_batchnorm": "CNN + batch norm + dropout",
}

# What every `model.save("<key>.keras")` archive holds.
ARCHIVE_MEMBERS = {"config.json", "metadata.json", "model.weights.h5"}


class WeightsError(RuntimeError):
    """A weight file is missing or unreadable; the message names the file."""


def weight_path(weights_dir, key):
    return Path(weights_dir) / f"{key}.keras"


def check_weight_files(weights_dir):
    """Raise WeightsError, naming the file, if a weight file is missing or its archive is damaged.

    Reads every byte (the zip checksums) in a few milliseconds, so the app can fail fast before
    it spends seconds loading TensorFlow.
    """
    for key in MODEL_NAMES:
        path = weight_path(weights_dir, key)
        if not path.is_file():
            raise WeightsError(f"Missing weight file {path}: train it with `python -m digitpad.train --model {key}`.")
        try:
            with zipfile.ZipFile(path) as archive:
                missing = ARCHIVE_MEMBERS - set(archive.namelist())
                damaged = archive.testzip()
                if not missing:
                    json.loads(archive.read("config.json"))
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as error:
            raise damaged_file(path, type(error).__name__) from None
        if damaged or missing:
            raise damaged_file(path, f"bad {damaged}" if damaged else f"no {', '.join(sorted(missing))}")


def damaged_file(path, reason):
    return WeightsError(f"Cannot load weight file {path} ({reason}): it is damaged; "
                        f"restore it with `git checkout -- {path}` or retrain.")
