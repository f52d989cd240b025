"""Initializer helpers shared by the layers."""

import keras


def clone_initializer(initializer):
    """A fresh copy of `initializer`, so that two weights built from one constructor argument draw independent
    values (keras-hub `utils/keras_utils.py::clone_initializer`)."""
    return keras.initializers.get(keras.initializers.serialize(initializer))
