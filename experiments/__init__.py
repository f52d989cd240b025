"""Entry points (absl) and the per-table experiment configs."""

import os

# The entry points print tables; TensorFlow's C++ start-up chatter would bury them.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
