"""`BackboneConfig`: the settings of the shared trunk (`common.layers.backbone.VideoQueryBackbone`) that every
family's config inherits. Kept free of TensorFlow, like the family configs, so that configs load without it.
"""

import dataclasses

ENCODERS = ("cmf", "bilstm")
INTERACTIONS = ("cqa", "cat")
#: How LSTMs are computed (`common.layers.lstm_sequence.run_lstm`); `auto` resolves to one of the other two.
LSTM_IMPLEMENTATIONS = ("auto", "keras", "sequence")


@dataclasses.dataclass
class BackboneConfig:
    """The trunk's settings, shared by every family's config (each family sets its own defaults).

    Attributes:
        hidden_dim: d.
        num_heads: attention heads of the feature encoder.
        word_dim: GloVe size (300).
        char_dim: char embedding size (50; 100 for ActivityNet).
        drop_rate: dropout during training.
        max_pos_len: size of the position tables and the resampling bound n.
        kernel_size, num_conv_layers: the encoder's conv block (7, 4).
        masked_conv: zero padded positions before each encoder convolution. The originals do not (padding leaks
            into valid positions, so a sample's output depends on its batch; `docs/fidelity.md`, VSLNet §7.6).
        lstm_implementation: how LSTMs are computed (the same function and weights either way;
            `common.layers.lstm_sequence.run_lstm`): `keras` calls `keras.layers.LSTM` (cuDNN on a GPU in
            float32/float16 outside XLA), `sequence` runs `lstm_sequence` (fast on CPU), `auto` picks `keras` when a
            GPU is visible and the compute dtype allows it, else `sequence`.
    """

    hidden_dim: int = 128
    num_heads: int = 8
    word_dim: int = 300
    char_dim: int = 50
    drop_rate: float = 0.2
    max_pos_len: int = 128
    kernel_size: int = 7
    num_conv_layers: int = 4
    masked_conv: bool = False
    lstm_implementation: str = "auto"

    def backbone_arguments(self):
        """`VideoQueryBackbone` keyword arguments from these settings (a family adds its trunk variants)."""
        return {
            "hidden_dim": self.hidden_dim,
            "num_heads": self.num_heads,
            "word_dim": self.word_dim,
            "char_dim": self.char_dim,
            "drop_rate": self.drop_rate,
            "max_pos_len": self.max_pos_len,
            "kernel_size": self.kernel_size,
            "num_conv_layers": self.num_conv_layers,
            "masked_conv": self.masked_conv,
            "lstm_implementation": self.lstm_implementation,
        }
