"""Import of the original TF1 (name-based) checkpoints into our Keras models (STYLE §5, "TF1 import").

`tf1_reader` reads a checkpoint with `tf.train.load_checkpoint` (no TF1 graph code), converts each original
variable with the conversion of its layer kind and assigns it to our weights through an explicit table; every
name unmatched on either side is an error. The tables live next to the models (`vslnet_tf/tf1_checkpoint.py`,
`lpnet_tf/tf1_checkpoint.py`).
"""
