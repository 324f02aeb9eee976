"""DigitPad: draw a digit, five TensorFlow models read it side by side."""
