"""Reinforcement learning: one learner that acts for every environment worker and trains.

  config     the learner's settings (LearnerConfig), and what workers are told (RunSettings)
  flags      the learner's and the worker's command-line flags
  vtrace     V-trace targets, a pure function of tensors
  update     the optimizer and one gradient step `update(batch) -> metrics`
  unroll     the layout of the T-step unrolls trained on, defined once
  channels   what a worker reports after each step, and the shared-memory channel that carries it
  transport  the gRPC service and client (settings; remote workers' streams); proto/ the messages
  inference  the inference server: batched actions for every worker, unrolls built from reports
  worker     an environment worker: steps one emulator, imports no TensorFlow
  start      where a run starts (scratch, pretrained, resumed) and its checkpoints
  learning   the learner's loop: serve, train, report
  evaluator  evaluation while training (--eval_every) in a process of its own; best_model
  progress   the learner's progress bar on a terminal
  local      the learner and its environments in one process, for debugging
"""
