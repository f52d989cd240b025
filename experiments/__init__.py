"""Entry points (absl) and the per-table experiment configs."""

from experiments import tensorflow_logging

# Before any entry point imports TensorFlow: its start-up notices would bury the tables the entry points print.
tensorflow_logging.quiet_start_up()
