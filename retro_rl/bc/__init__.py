"""Behaviour cloning: a CNN-LSTM learns to choose the action a demonstrator chose.

  data      demonstrations -> lanes of time-major sequences with carried LSTM state
  train     the train step, validation, the optimizer and resuming
  metrics   accuracy, balanced accuracy, confusion; TensorBoard and the curve image
  run       the whole run: parse, split, train, validate, checkpoint
"""
