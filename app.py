"""DigitPad: draw a digit, five TensorFlow models read it. `python app.py`, or as a Hugging Face Space."""

import sys

from digitpad import ui
from digitpad.catalog import WeightsError

try:
    demo = ui.build_demo()
except WeightsError as error:  # fail fast with the file's name, not a stack of Keras internals
    sys.exit(f"DigitPad cannot start: {error}")

if __name__ == "__main__":
    demo.launch(**ui.LAUNCH_OPTIONS)
