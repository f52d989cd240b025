import pytest

from common.layers import lstm_sequence
from vslnet_tf.config import LSTM_IMPLEMENTATIONS, VSLNetConfig


def test_lstm_implementation():
    # config.py keeps its own copy of the names, without importing TensorFlow.
    assert LSTM_IMPLEMENTATIONS == lstm_sequence.LSTM_IMPLEMENTATIONS
    assert VSLNetConfig().lstm_implementation == "auto"
    for name in LSTM_IMPLEMENTATIONS:
        VSLNetConfig(lstm_implementation=name).validate()
    with pytest.raises(ValueError, match="lstm_implementation"):
        VSLNetConfig(lstm_implementation="cudnn").validate()
