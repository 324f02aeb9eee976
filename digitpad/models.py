"""The five architectures of the reference article, from a perceptron to a batch-normalised CNN.

This module holds only the architectures; how they are trained lives in `digitpad.train`.
Every model takes (N, 28, 28) float32 in [0, 1] (white ink on black) and returns softmax
probabilities over the ten digits.
"""

from digitpad.catalog import MODEL_NAMES  # noqa: F401  (its home is catalog; a public name here too)

# Keras (and TensorFlow) is imported when a model is built, not with this module: importing
# MODEL_NAMES from here costs no four-second TensorFlow start and prints none of its notices.

# (filters, kernel size, stride) of the article's three convolutions, shared by both CNNs.
CONV_STACK = [(12, 3, 1), (24, 6, 2), (32, 6, 2)]
MLP_HIDDEN = [128, 64, 32]


def _classifier(name, hidden):
    """Input -> `hidden(x)` -> Dense(10, softmax): the frame all five models share."""
    import keras
    from keras import layers

    inputs = keras.Input(shape=(28, 28), name="image")
    outputs = layers.Dense(10, activation="softmax", name="probabilities")(hidden(inputs))
    return keras.Model(inputs, outputs, name=name)


def perceptron():
    from keras import layers

    return _classifier("perceptron", layers.Flatten())


def _mlp_body(dropout):
    def body(x):
        from keras import layers

        x = layers.Flatten()(x)
        for units in MLP_HIDDEN:
            x = layers.Dense(units, activation="relu")(x)
            if dropout:
                x = layers.Dropout(dropout)(x)
        return x

    return body


def mlp():
    return _classifier("mlp", _mlp_body(dropout=0))


def mlp_dropout():
    return _classifier("mlp_dropout", _mlp_body(dropout=0.2))


def _cnn_body(batchnorm):
    def body(x):
        from keras import layers

        x = layers.Reshape((28, 28, 1))(x)
        for filters, size, stride in CONV_STACK:
            if batchnorm:
                # No bias: the BatchNormalization right after it has its own offset.
                x = layers.Conv2D(filters, size, strides=stride, padding="same", use_bias=False)(x)
                x = layers.BatchNormalization()(x)
                x = layers.ReLU()(x)
            else:
                # The article's plain CNN has no activation between convolutions.
                x = layers.Conv2D(filters, size, strides=stride, padding="same")(x)
        x = layers.Flatten()(x)
        if batchnorm:
            x = layers.Dense(128, use_bias=False)(x)
            x = layers.BatchNormalization()(x)
            x = layers.ReLU()(x)
            return layers.Dropout(0.2)(x)
        return layers.Dense(32, activation="relu")(x)

    return body


def cnn():
    return _classifier("cnn", _cnn_body(batchnorm=False))


def cnn_batchnorm():
    return _classifier("cnn_batchnorm", _cnn_body(batchnorm=True))


BUILDERS = {
    "perceptron": perceptron,
    "mlp": mlp,
    "mlp_dropout": mlp_dropout,
    "cnn": cnn,
    "cnn_batchnorm": cnn_batchnorm,
}


def build(key):
    """A fresh, untrained model for one of MODEL_NAMES."""
    return BUILDERS[key]()
