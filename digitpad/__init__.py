"""DigitPad: draw a digit, five TensorFlow models read it side by side."""

import os

# TensorFlow's start-up notices (oneDNN, CPU instructions) are INFO lines on stderr: importing any
# public name of the package should print nothing. Warnings and errors still show; a caller's own
# setting wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
