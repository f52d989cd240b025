"""The Inflated 3-D ConvNet (I3D, Inception-v1 inflated) as the original feature extractors run it."""

import math

import keras

from common.layers.initializers import clone_initializer
from common.video.inception_module import InceptionModule
from common.video.unit3d import Unit3D

#: The end points up to the features, in order, with DeepMind's names (`kinetics-i3d/i3d.py::VALID_ENDPOINTS`):
#: name → `("unit", filters, kernel, strides)`, `("max_pool", pool, strides)` or `("mixed", six filter counts)`.
END_POINTS = {
    "Conv3d_1a_7x7": ("unit", 64, (7, 7, 7), (2, 2, 2)),
    "MaxPool3d_2a_3x3": ("max_pool", (1, 3, 3), (1, 2, 2)),
    "Conv3d_2b_1x1": ("unit", 64, (1, 1, 1), (1, 1, 1)),
    "Conv3d_2c_3x3": ("unit", 192, (3, 3, 3), (1, 1, 1)),
    "MaxPool3d_3a_3x3": ("max_pool", (1, 3, 3), (1, 2, 2)),
    "Mixed_3b": ("mixed", (64, 96, 128, 16, 32, 32)),
    "Mixed_3c": ("mixed", (128, 128, 192, 32, 96, 64)),
    "MaxPool3d_4a_3x3": ("max_pool", (3, 3, 3), (2, 2, 2)),
    "Mixed_4b": ("mixed", (192, 96, 208, 16, 48, 64)),
    "Mixed_4c": ("mixed", (160, 112, 224, 24, 64, 64)),
    "Mixed_4d": ("mixed", (128, 128, 256, 24, 64, 64)),
    "Mixed_4e": ("mixed", (112, 144, 288, 32, 64, 64)),
    "Mixed_4f": ("mixed", (256, 160, 320, 32, 128, 128)),
    "MaxPool3d_5a_2x2": ("max_pool", (2, 2, 2), (2, 2, 2)),
    "Mixed_5b": ("mixed", (256, 160, 320, 32, 128, 128)),
    "Mixed_5c": ("mixed", (384, 192, 384, 48, 128, 128)),
}
FEATURE_DIM = 1024
#: The original's `AvgPool3d(kernel_size=[2, 7, 7], stride=(1, 1, 1))`, no padding.
AVERAGE_POOL = (2, 7, 7)
#: `Mixed_5c` is 32× smaller than the frames in space and 8× in time (three stride-2 steps, rounded up).
SPATIAL_REDUCTION, TEMPORAL_STEPS = 32, 3


def num_feature_rows(num_frames):
    """Rows of `I3D` features for a window of `num_frames` frames: `ceil(num_frames / 8) − 1` (0 below 9 frames)."""
    length = int(num_frames)
    for _ in range(TEMPORAL_STEPS):
        length = math.ceil(length / 2)
    return max(length - AVERAGE_POOL[0] + 1, 0)


@keras.saving.register_keras_serializable(package="nlvl")
class I3D(keras.Model):
    """I3D up to `Mixed_5c`, then the original extractors' average pool: frames → `[time', 1024]` features.

    DeepMind `kinetics-i3d/i3d.py::InceptionI3d` (weights: `common.video.i3d_checkpoint`) as the VSLNet `prepare/`
    scripts run it (`feature_extractor.py::InceptionI3d.extract_features`, the PyTorch port): every end point up to
    `Mixed_5c`, then `AvgPool3d([2, 7, 7], stride 1)` without padding, squeezed to `[time', 1024]`. The classifier
    (`Logits`) is not part of it. Convolutions and max pools pad as TensorFlow's "SAME" (see `Unit3D`,
    `InceptionModule`); batch norms use their moving statistics unless called with `training=True`. The PyTorch
    port pads its max pools with zeros instead, which gives the same maxima only because every max pool here reads
    a ReLU's output (a `Unit3D`, a `Mixed` block or another pool: all ≥ 0) and every SAME window holds a real value.

    End points are layers named as DeepMind names them (`END_POINTS`: `"Conv3d_1a_7x7"`, ..., `"Mixed_5c"`);
    `end_point_model(name)` gives a model whose output is that end point.

    Args:
        image_size: int, height and width of the frames, 193 to 224 (the average pool needs a 7 × 7 `Mixed_5c`).
            Defaults to 224, what the originals crop.
        kernel_initializer: initializer of every convolution (before weights are imported). Defaults to
            `"glorot_uniform"`.
        **kwargs: base `keras.Model` arguments (`name` defaults to `"inception_i3d"`, DeepMind's scope).

    Call arguments:
        frames: float tensor `[batch, time, image_size, image_size, 3]`, RGB in [−1, 1]; `time` ≥ 9.
        training: bool, passed to the batch norms. Defaults to `False`.

    Returns:
        float32 tensor `[batch, ceil(time / 8) − 1, 1024]` (`num_feature_rows(time)` rows: 16 frames give 1 row,
        24 frames 2).

    Example:
    >>> model = I3D()
    >>> tuple(model(np.zeros((1, 16, 224, 224, 3), "float32")).shape)
    (1, 1, 1024)
    """

    def __init__(self, image_size=224, kernel_initializer="glorot_uniform", name="inception_i3d", **kwargs):
        if math.ceil(int(image_size) / SPATIAL_REDUCTION) != AVERAGE_POOL[1]:
            raise ValueError(
                f"image_size must be 193 to 224 (Mixed_5c must be 7 x 7 for the 7 x 7 average pool); got {image_size}"
            )
        initializer = keras.initializers.get(kernel_initializer)

        # === Layers ===
        end_point_layers = []
        for end_point, (kind, *spec) in END_POINTS.items():
            if kind == "unit":
                filters, kernel, strides = spec
                layer = Unit3D(
                    filters, kernel, strides=strides, kernel_initializer=clone_initializer(initializer), name=end_point
                )
            elif kind == "max_pool":
                pool, strides = spec
                layer = keras.layers.MaxPooling3D(pool_size=pool, strides=strides, padding="same", name=end_point)
            else:
                layer = InceptionModule(spec[0], kernel_initializer=clone_initializer(initializer), name=end_point)
            end_point_layers.append(layer)
        average_pool = keras.layers.AveragePooling3D(
            pool_size=AVERAGE_POOL, strides=(1, 1, 1), padding="valid", name="average_pool"
        )
        to_rows = keras.layers.Reshape((-1, FEATURE_DIM), name="features")  # [B, T', 1, 1, 1024] → [B, T', 1024]

        # === Functional Model ===
        frames = keras.Input(shape=(None, image_size, image_size, 3), name="frames")
        x = frames
        for layer in end_point_layers:
            x = layer(x)
        features = to_rows(average_pool(x))
        super().__init__(inputs=frames, outputs=features, name=name, **kwargs)

        # === Config ===
        self.image_size = int(image_size)
        self.kernel_initializer = initializer

    def end_point_model(self, end_point):
        """A model sharing these weights whose output is `end_point` (a name of `END_POINTS`)."""
        if end_point not in END_POINTS:
            raise ValueError(f"unknown I3D end point {end_point!r}; the end points are {list(END_POINTS)}")
        return keras.Model(self.input, self.get_layer(end_point).output, name=f"{self.name}_{end_point}")

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "image_size": self.image_size,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
