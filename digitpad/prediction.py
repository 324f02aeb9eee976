"""What one reading of a drawing gives every view: the 28x28, the five models' probabilities, the
activations of the layers shown, or why there is none. Made by `inference.Predictor`; kept apart
from it (no TensorFlow here) so the page can say what is wrong with a drawing before the models load."""

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Prediction:
    image: np.ndarray  # the (28, 28) input the models saw
    probabilities: dict = field(default_factory=dict)  # {key: (10,) softmax}; empty when there is no prediction
    layers: dict = field(default_factory=dict)  # {key: [(layer name, activations), ...]} of the models asked for
    message: str = ""  # for the user: why there is no prediction, or a caveat about it
    features: dict = field(default_factory=dict)  # {key: (d,)} what each model's last layer read
    is_digit: bool = True  # the drawing reads like a digit the models were trained on (digitpad.novelty)
    digits: list = field(default_factory=list)  # a number: each digit's Prediction, left to right (the
    # fields above are then its first digit's); empty for a single digit
    saliency: dict = field(default_factory=dict)  # {key: (28, 28)} each model's saliency for its answer,
    # where the layers are kept (a lifted pen's drawing); empty otherwise

    def first_layer(self, key):
        """Activations of the model's first layer: (28, 28, filters) for a CNN, (units,) for a dense model."""
        return self.layers[key][0][1]
