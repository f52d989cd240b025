"""Shared test base: `TestCase` with `run_layer_test` and small assertions used across layer tests.

Follows keras-hub `src/tests/test_case.py` in spirit (STYLE §9), trimmed to what our layers need and fast on CPU.
"""

import os
import pathlib
import subprocess
import sys
import textwrap

import keras
import numpy as np
import tensorflow as tf
from absl.testing import parameterized

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]


def _to_numpy(structure):
    # np.asarray, not keras' convert_to_numpy, which NumPy 2 warns about for variables.
    return tf.nest.map_structure(np.asarray, structure)


def _dynamic_spec(array):
    """A `tf.TensorSpec` with every dim dynamic, except the channel dim of float arrays of rank >= 3."""
    array = np.asarray(array)
    shape = [None] * array.ndim
    if np.issubdtype(array.dtype, np.floating) and array.ndim >= 3:
        shape[-1] = array.shape[-1]
    return tf.TensorSpec(shape, tf.as_dtype(array.dtype))


class TestCase(tf.test.TestCase, parameterized.TestCase):
    """`tf.test.TestCase` + `parameterized.TestCase` with a seeded setUp and layer helpers."""

    # `tf.test.TestCase.test_session` is a deprecated helper, not a test; hide it from pytest's collection.
    test_session = None

    def setUp(self):
        super().setUp()
        keras.utils.set_random_seed(1234)

    def run_layer_test(
        self,
        cls,
        init_kwargs,
        input_data,
        expected_output_shape,
        expected_num_trainable_weights=None,
        expected_num_non_trainable_weights=None,
        expected_num_trainable_params=None,
        call_kwargs=None,
        run_tf_function=True,
    ):
        """Config round trip, build, eager call, output shapes, weight counts, tf.function with dynamic dims.

        Args:
            cls: the layer class.
            init_kwargs: dict of constructor arguments.
            input_data: numpy array (the first call argument) or dict `{call_arg_name: numpy array}`.
            expected_output_shape: a shape tuple, or a tuple/list of shape tuples for multi-output layers.
            expected_num_trainable_weights: optional int, `len(layer.trainable_weights)`.
            expected_num_non_trainable_weights: optional int.
            expected_num_trainable_params: optional int, total trainable values.
            call_kwargs: optional dict of non-tensor call arguments (e.g. `{"training": False}`).
            run_tf_function: also call the layer inside a `tf.function` whose batch and time dims are `None` and
                check that it gives the eager outputs.

        Returns:
            the built layer (for further checks).
        """
        call_kwargs = dict(call_kwargs or {})
        inputs = input_data if isinstance(input_data, dict) else None

        def call(layer, tensors):
            if inputs is None:
                return layer(tensors, **call_kwargs)
            return layer(**tensors, **call_kwargs)

        # Registration and config round trip.
        self.assertEqual(keras.saving.get_registered_name(cls), f"nlvl>{cls.__name__}")
        layer = cls(**init_kwargs)
        config = layer.get_config()
        revived = cls.from_config(config)
        self.assertEqual(revived.get_config(), config)
        serialized = keras.saving.serialize_keras_object(layer)
        deserialized = keras.saving.deserialize_keras_object(serialized)
        self.assertIsInstance(deserialized, cls)
        self.assertEqual(deserialized.get_config(), config)

        # Eager call and shapes.
        outputs = call(layer, input_data)
        self.assertTrue(layer.built)
        self._assert_shapes(outputs, expected_output_shape)

        # Weights.
        if expected_num_trainable_weights is not None:
            self.assertLen(layer.trainable_weights, expected_num_trainable_weights)
        if expected_num_non_trainable_weights is not None:
            self.assertLen(layer.non_trainable_weights, expected_num_non_trainable_weights)
        if expected_num_trainable_params is not None:
            count = sum(int(np.prod(w.shape)) for w in layer.trainable_weights)
            self.assertEqual(count, expected_num_trainable_params)
        paths = [w.path for w in layer.weights]
        self.assertLen(set(paths), len(paths), msg=f"duplicate weight paths: {paths}")

        # The revived layer computes the same function once given the same weights.
        call(revived, input_data)
        revived.set_weights(layer.get_weights())
        self.assertAllClose(_to_numpy(call(revived, input_data)), _to_numpy(outputs), atol=1e-6, rtol=1e-6)

        # tf.function with dynamic batch/time dims (padding is per batch).
        if run_tf_function:
            if inputs is None:
                function = tf.function(lambda x: call(layer, x), input_signature=[_dynamic_spec(input_data)])
                graph_outputs = function(input_data)
            else:
                names = list(inputs)
                signature = [_dynamic_spec(inputs[name]) for name in names]
                function = tf.function(lambda *args: call(layer, dict(zip(names, args))), input_signature=signature)
                graph_outputs = function(*[inputs[name] for name in names])
            self.assertAllClose(_to_numpy(graph_outputs), _to_numpy(outputs), atol=1e-5, rtol=1e-5)
        return layer

    def _assert_shapes(self, outputs, expected):
        if isinstance(expected, (tuple, list)) and expected and isinstance(expected[0], (tuple, list)):
            self.assertIsInstance(outputs, (tuple, list))
            self.assertLen(outputs, len(expected))
            for output, shape in zip(outputs, expected):
                self.assertEqual(tuple(output.shape), tuple(shape))
        else:
            self.assertEqual(tuple(outputs.shape), tuple(expected))

    def assert_padding_invariant(self, call, pads=(1, 4), atol=1e-5):
        """Extra padding must not change valid outputs (STYLE §9).

        Args:
            call: `call(pad) -> array` that runs the layer on inputs with `pad` extra padded positions appended and
                returns the outputs at the **valid** positions only.
            pads: the amounts of extra padding compared with `call(0)`.
            atol: tolerance.
        """
        reference = _to_numpy(call(0))
        for pad in pads:
            self.assertAllClose(_to_numpy(call(pad)), reference, atol=atol, rtol=0, msg=f"pad={pad}")

    def assert_dropout_only_in_training(self, layer, call):
        """`call(layer, training)` is deterministic unless `training=True`, and dropout changes it then."""
        inference = _to_numpy(call(layer, False))
        self.assertAllClose(_to_numpy(call(layer, False)), inference, atol=0, rtol=0)
        self.assertAllClose(_to_numpy(call(layer, None)), inference, atol=0, rtol=0)
        trained = _to_numpy(call(layer, True))
        flat_inference = np.concatenate([np.ravel(x) for x in tf.nest.flatten(inference)])
        flat_trained = np.concatenate([np.ravel(x) for x in tf.nest.flatten(trained)])
        self.assertFalse(np.allclose(flat_inference, flat_trained), msg="training=True did not apply dropout")

    def assert_same_outputs_and_gradients(self, reference, other, inputs, atol=1e-5, rtol=1e-5):
        """Two computations give the same outputs on `inputs` and the same gradients w.r.t. the float arrays of
        `inputs` and their variables (pairwise, in order).

        The loss is a fixed random projection of every float output, so each output element is checked separately.

        Args:
            reference, other: `(call, variables)`; `call` takes `inputs` as a dict of tensors.
            inputs: dict of numpy arrays.
            atol, rtol: tolerances of outputs and gradients.
        """
        (outputs, grads), (other_outputs, other_grads) = (
            _outputs_and_gradients(call, variables, inputs) for call, variables in (reference, other)
        )
        self.assertAllClose(_to_numpy(other_outputs), _to_numpy(outputs), atol=atol, rtol=rtol)
        self.assertLen(other_grads, len(grads))
        names = [name for name, value in inputs.items() if np.issubdtype(np.asarray(value).dtype, np.floating)]
        names += [getattr(v, "path", str(i)) for i, v in enumerate(reference[1])]
        for name, grad, other_grad in zip(names, grads, other_grads):
            if grad is None:
                self.assertIsNone(other_grad, msg=name)
            else:
                self.assertIsNotNone(other_grad, msg=name)
                self.assertAllClose(other_grad, grad, atol=atol, rtol=rtol, msg=name)


def _outputs_and_gradients(call, variables, inputs):
    """`call(inputs)` and the gradients of a fixed random projection of its float outputs w.r.t. the float inputs,
    then `variables` (`None` where there is no path)."""
    tensors = {name: tf.constant(value) for name, value in inputs.items()}
    sources = [tensor for tensor in tensors.values() if tensor.dtype.is_floating]
    rng = np.random.RandomState(0)
    with tf.GradientTape() as tape:
        tape.watch(sources)
        outputs = call(tensors)
        loss = 0.0
        for output in tf.nest.flatten(outputs):
            output = tf.convert_to_tensor(output)  # an output may be a (Keras) variable
            if output.dtype.is_floating:
                projection = rng.normal(size=output.shape).astype("float32")
                loss += tf.reduce_sum(tf.cast(output, tf.float32) * projection)
    grads = tape.gradient(loss, sources + list(variables))
    return outputs, [None if grad is None else tf.convert_to_tensor(grad) for grad in grads]


def num_params(weights):
    """Total number of values in a list of weights."""
    return sum(int(np.prod(w.shape)) for w in weights)


_RELOAD_SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    import tensorflow as tf
    cases = np.load(sys.argv[2], allow_pickle=True)
    reloaded = tf.saved_model.load(sys.argv[1])
    ids = reloaded.signatures["predict_ids"]
    out = {}
    for i in range(int(cases["count"])):
        inputs = dict(video_features=tf.constant(cases[f"features_{i}"]), query=tf.constant(str(cases[f"query_{i}"])),
                      duration=tf.constant(float(cases[f"duration_{i}"])))
        out.update({f"default_{k}_{i}": v.numpy() for k, v in reloaded.signatures["serving_default"](**inputs).items()})
        if "serving_queries" in reloaded.signatures:  # the query twice: the same padding as alone
            queries = dict(inputs, queries=tf.constant([str(cases[f"query_{i}"])] * 2))
            del queries["query"]
            out.update({f"queries_{k}_{i}": v.numpy()
                        for k, v in reloaded.signatures["serving_queries"](**queries).items()})
        if f"strategy_{i}" in cases:
            details = reloaded.signatures["serving_with_strategy"](strategy=tf.constant(str(cases[f"strategy_{i}"])),
                                                                   **inputs)
        else:
            details = reloaded.signatures["serving_details"](**inputs)
        out.update({f"{k}_{i}": v.numpy() for k, v in details.items()})
    batch = {k: tf.constant(cases[k]) for k in ("video_features", "video_mask", "word_ids", "char_ids")}
    out.update({f"ids_{k}": v.numpy() for k, v in ids(**batch).items()})
    np.savez(sys.argv[3], **out)
""")


def reload_saved_model_in_fresh_process(saved_model_dir, cases, ids_batch, tmp_path):
    """Run the signatures of an exported SavedModel in a new Python process (`tf.saved_model.load`, no package
    code) on `cases` (`[(features, query, duration)]`, or with a fourth `strategy` for VSLNet-L) and on `ids_batch`;
    returns the outputs as an npz mapping: `default_{output}_{case index}` for `serving_default`,
    `{output}_{case index}` for `serving_details` (`serving_with_strategy` for a case with a strategy),
    `queries_{output}_{case index}` for `serving_queries` on the case's query twice,
    `ids_{output}` for `predict_ids`."""
    arrays = {"count": len(cases), **ids_batch}
    for i, (features, query, duration, *strategy) in enumerate(cases):
        arrays.update({f"features_{i}": features, f"query_{i}": query, f"duration_{i}": duration})
        if strategy:
            arrays[f"strategy_{i}"] = strategy[0]
    np.savez(tmp_path / "cases.npz", **arrays)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(REPO_ROOT))
    subprocess.run(
        [
            sys.executable,
            "-c",
            _RELOAD_SCRIPT,
            str(saved_model_dir),
            str(tmp_path / "cases.npz"),
            str(tmp_path / "out.npz"),
        ],
        check=True,
        env=env,
        cwd=tmp_path,
    )
    return np.load(tmp_path / "out.npz", allow_pickle=True)
