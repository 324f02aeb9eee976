"""Run all five models on a drawing at once.

The five models are loaded once and fused into a single traced `tf.function` that returns every
model's probabilities together with the activations the app shows (each convolution block's
feature maps, the first Dense layer's units): one call of a couple of milliseconds instead of five
`model.predict` calls of ~40 ms each.
"""

import os
from dataclasses import replace
from pathlib import Path

# oneDNN's CPU kernels pay off on training batches, not on one 28x28 image: the fused call took
# 3.2 ms with them and 2.4 ms without (median of 400 calls, 4 runs each, this 2-core machine).
# TensorFlow reads this when it is first imported, as it is here when the app loads its models.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from digitpad import novelty, preprocess
from digitpad.catalog import MODEL_NAMES, WeightsError, check_weight_files, weight_path
from digitpad.prediction import Prediction  # noqa: F401 (also importable from here, as before)

TOO_SMALL = 0.04  # ink box under 4 % of the canvas: a dot or a scribble, not a digit


def load_models(weights_dir="weights"):
    """{key: keras.Model} for the five committed models; WeightsError names a bad or missing file."""
    check_weight_files(weights_dir)
    loaded = {}
    for key in MODEL_NAMES:
        path = weight_path(weights_dir, key)
        try:
            loaded[key] = keras.models.load_model(path, compile=False)
        except Exception as error:  # Keras raises a variety of errors for archives it cannot read
            raise WeightsError(f"Cannot load weight file {path} ({type(error).__name__}): "
                               f"restore it with `git checkout -- {path}` or retrain.") from None
    return loaded


def shown_layers(model):
    """[(name, layer)] whose outputs the app shows: each convolution block (after its BN/ReLU, where
    the model has them), or, in a dense model, the first Dense layer."""
    shown, block = [], None
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            block = layer
            shown.append((f"conv {len(shown) + 1}: {layer.filters} filters {layer.kernel_size[0]}x"
                          f"{layer.kernel_size[1]}, stride {layer.strides[0]}", layer))
        elif block is not None and isinstance(layer, (keras.layers.BatchNormalization, keras.layers.ReLU)):
            shown[-1] = (shown[-1][0], layer)  # the block's output is after its normalisation/activation
        elif isinstance(layer, keras.layers.Flatten):
            block = None
        elif isinstance(layer, keras.layers.Dense) and not shown:
            shown.append((f"dense 1: {layer.units} units", layer))
    return shown


def last_layer(model):
    """The model's last layer: Dense(10, softmax), named "probabilities" in all five."""
    return model.get_layer("probabilities")


def first_weighted_layer(model):
    """The model's first Conv2D or Dense layer: where it meets the pixels."""
    return next(layer for layer in model.layers if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)))


def split_for_models(drawing):
    """The drawing as the parts to read: the pad's strokes split into digits, anything else as it is;
    a Prediction saying why, for strokes that cannot be read."""
    try:
        if isinstance(drawing, dict) and "strokes" in drawing:
            drawing = preprocess.check_strokes(drawing)
        if isinstance(drawing, preprocess.Strokes):
            return preprocess.as_single_digits(preprocess.split_digits(drawing))
        return [drawing]
    except preprocess.DrawingError as error:
        return [Prediction(np.zeros((28, 28), np.float32), message=str(error))]


def read_for_models(drawing):
    """The drawing read (`preprocess.Drawing`), or a Prediction without probabilities saying why it
    cannot be read."""
    if isinstance(drawing, Prediction):  # already told why
        return drawing
    try:
        read = preprocess.read(drawing)
    except preprocess.DrawingError as error:
        return Prediction(np.zeros((28, 28), np.float32), message=str(error))
    if read.empty:
        return Prediction(read.image, message="Draw a digit")
    if read.extent < TOO_SMALL:
        return Prediction(read.image, message="That is too small to read: draw the digit bigger.")
    return read


class Predictor:
    """All five models, loaded once. `predict(drawing)` takes anything `preprocess.read` takes: the pad's
    strokes, a sketchpad value or an image."""

    def __init__(self, weights_dir="weights"):
        self.weights_dir = Path(weights_dir)  # what else the models come with (digitpad.adapt's replayed digits)
        self.models = load_models(weights_dir)
        self.layer_names = {key: [name for name, _ in shown_layers(m)] for key, m in self.models.items()}
        self.novelty = novelty.Novelty.load(weights_dir)  # None until `python -m digitpad.novelty` fits it
        self._heads = {key: tuple(np.asarray(w) for w in last_layer(m).weights) for key, m in self.models.items()}
        # Each model's probabilities, the features its last layer reads (what `digitpad.adapt` refits
        # that layer on) and the activations of the layers shown.
        probes = {
            key: keras.Model(m.inputs, [m.outputs[0], last_layer(m).input] + [l.output for _, l in shown_layers(m)])
            for key, m in self.models.items()
        }

        @tf.function(input_signature=[tf.TensorSpec([None, 28, 28], tf.float32)])
        def run_all(images):
            return {key: probe(images, training=False) for key, probe in probes.items()}

        @tf.function(input_signature=[tf.TensorSpec([None, 28, 28], tf.float32)])
        def run_all_explained(images):
            """run_all, and each model's saliency for its own answer (gradient x input of its top
            probability): a lifted pen's "Inside a model", in the same call. Rows are independent
            (batch norm in inference mode), so the gradient of the rows' summed top probabilities is
            each row's own. One call of 1.3-1.45 ms where the fused call and one model's saliency took 1.7."""
            with tf.GradientTape(persistent=True) as tape:
                tape.watch(images)
                outputs = {key: probe(images, training=False) for key, probe in probes.items()}
                tops = {key: tf.reduce_sum(tf.reduce_max(out[0], axis=1)) for key, out in outputs.items()}
            saliency = {key: tf.nn.relu(tape.gradient(top, images) * images) for key, top in tops.items()}
            return outputs, saliency

        # Called as concrete functions, which skips tf.function's argument matching: 0.7 ms of the
        # 2.6 a call took. Traced and run once now, not on the first user's drawing.
        self._run_all = run_all.get_concrete_function()
        self._run_all(tf.zeros((1, 28, 28)))
        self._run_all_explained = run_all_explained.get_concrete_function()
        self._run_all_explained(tf.zeros((1, 28, 28)))
        self._gradients = {}
        for key in MODEL_NAMES:  # traced now too: a first trace takes seconds
            self.saliency(key, np.zeros((28, 28), np.float32), 0)

    def predict(self, image, layers_of=None) -> Prediction:
        """All five models' probabilities, and the shown layers' activations of `layers_of`: one model's
        key, or several (the fused call computes them all anyway; only their copies cost)."""
        return self.predict_many([image], [layers_of])[0]

    def predict_many(self, drawings, layers_of=None) -> list:
        """[Prediction] of several drawings, read one by one and run through the five models in one
        fused call (the server batches the drawings that wait: a batch of 16 costs three times one
        drawing, not sixteen). `layers_of`: for each drawing, whose layers to keep (a key, keys or None).
        The pad's strokes are first split into digits (`preprocess.split_digits`): a number's
        Prediction holds each digit's in `digits`, all read in the same call."""
        layers_of = layers_of or [None] * len(drawings)
        parts, owners = [], []  # every digit to read, and the drawing it is part of
        for i, drawing in enumerate(drawings):
            for part in split_for_models(drawing):
                parts.append(part)
                owners.append(i)
        read = self._predict_parts(parts, [layers_of[i] for i in owners])
        predictions = []
        for i in range(len(drawings)):
            mine = [p for p, owner in zip(read, owners) if owner == i]
            if len(mine) == 1 or not all(p.probabilities for p in mine):
                # one digit, or a number with a part that cannot be read: say why (its first such part)
                predictions.append(next((p for p in mine if not p.probabilities), mine[0]))
            else:
                strokes = [part.strokes for part, owner in zip(parts, owners)
                           if owner == i and isinstance(part, preprocess.Strokes)]
                is_digit = all(p.is_digit for p in mine) and (self.novelty is None or
                                                              self.novelty.parts_are_digits(strokes))
                predictions.append(replace(mine[0], is_digit=is_digit, digits=mine))
        return predictions

    def read_number(self, value) -> dict:
        """{key: "42"}: each model's reading of the pad's value, one character per digit found, left to
        right ("" when there is nothing to read)."""
        prediction = self.predict(value)
        if not prediction.probabilities:
            return {key: "" for key in MODEL_NAMES}
        return {key: "".join(str(int(p.probabilities[key].argmax())) for p in prediction.digits or [prediction])
                for key in MODEL_NAMES}

    def _predict_parts(self, drawings, layers_of):
        predictions = [read_for_models(drawing) for drawing in drawings]
        readable = [i for i, p in enumerate(predictions) if not isinstance(p, Prediction)]
        # The drawings whose layers are kept (a lifted pen's: "Inside a model" shows them) are read with
        # every model's saliency; the others (the pen still moving, the API) without.
        explained = [i for i in readable if layers_of[i]]
        read = {}  # drawing index -> (outputs, saliency, row)
        for group, run in (([i for i in readable if not layers_of[i]], self._run_plain), (explained, self._run_explained)):
            if group:
                outputs, saliency = run(tf.constant(np.stack([predictions[i].image for i in group])))
                read.update({i: (outputs, saliency, row) for row, i in enumerate(group)})
        for i in readable:
            outputs, saliency, row = read[i]
            wanted = layers_of[i]
            layers = {
                key: [(name, outputs[key][j + 2][row].copy()) for j, name in enumerate(self.layer_names[key])]
                for key in ([wanted] if isinstance(wanted, str) else wanted or [])
            }
            probabilities = {key: out[0][row] for key, out in outputs.items()}
            features = {key: out[1][row].copy() for key, out in outputs.items()}
            strokes = drawings[i] if isinstance(drawings[i], preprocess.Strokes) else None
            is_digit = self.novelty is None or (bool(self.novelty.is_digit(features[novelty.KEY])[0]) and (
                strokes is None or self.novelty.path_is_digit(strokes.strokes, with_lines=not strokes.live)))
            predictions[i] = Prediction(predictions[i].image, probabilities, layers, features=features,
                                        is_digit=is_digit, saliency={key: s[row].copy() for key, s in saliency.items()})
        return predictions

    def _run_explained(self, images):
        """(outputs, saliency) of `run_all_explained`, as numpy arrays."""
        outputs, saliency = self._run_all_explained(images)
        return ({key: [tensor.numpy() for tensor in out] for key, out in outputs.items()},
                {key: s.numpy() for key, s in saliency.items()})

    def _run_plain(self, images):
        """(outputs, no saliency) of the fused call, as numpy arrays."""
        return {key: [tensor.numpy() for tensor in out] for key, out in self._run_all(images).items()}, {}

    def predict_batch(self, images: np.ndarray) -> dict:
        """{key: (N, 10)} probabilities of already preprocessed (N, 28, 28) images."""
        return {key: out[0] for key, out in self._run(images).items()}

    def features(self, images: np.ndarray) -> dict:
        """{key: (N, d)} what each model's last layer reads for already preprocessed (N, 28, 28) images."""
        return {key: out[1] for key, out in self._run(images).items()}

    def heads(self) -> dict:
        """{key: (kernel (d, 10), bias (10,))}: each model's last layer, as trained (read once)."""
        return self._heads

    def _run(self, images, chunk=2048):
        """The fused call on many images, a chunk at a time (bounded memory)."""
        images = np.asarray(images, np.float32).reshape(-1, 28, 28)
        parts = [self._run_all(tf.constant(images[i:i + chunk])) for i in range(0, max(len(images), 1), chunk)]
        return {key: [np.concatenate([p[key][j].numpy() for p in parts]) for j in range(2)] for key in parts[0]}

    def saliency(self, key, image, label):
        """Gradient x input of the probability of `label` w.r.t. each input pixel: (28, 28), >= 0.

        Positive where a drawn pixel pushed the model toward `label`; zero on the empty background.
        """
        if key not in self._gradients:
            model = self.models[key]

            @tf.function(input_signature=[tf.TensorSpec([28, 28], tf.float32), tf.TensorSpec([], tf.int32)])
            def gradient_x_input(x, target):
                with tf.GradientTape() as tape:
                    tape.watch(x)
                    probability = model(x[None], training=False)[0, target]
                return tf.nn.relu(tape.gradient(probability, x) * x)

            # A concrete function, called directly: no argument matching (a millisecond of six).
            self._gradients[key] = gradient_x_input.get_concrete_function()
        return self._gradients[key](tf.constant(image, tf.float32), tf.constant(label, tf.int32)).numpy()
