import pytest

from common.layers.lstm_sequence import LSTM_IMPLEMENTATIONS
from vslnet_tf.config import VSLNetConfig


def test_lstm_implementation():
    assert VSLNetConfig().lstm_implementation == "auto"
    for name in LSTM_IMPLEMENTATIONS:
        VSLNetConfig(lstm_implementation=name).validate()
    with pytest.raises(ValueError, match="lstm_implementation"):
        VSLNetConfig(lstm_implementation="cudnn").validate()
