"""Reinforcement learning: one learner that acts for every environment worker and trains.

  config     the learner's settings: the update's (LearnerConfig, presets, fine-tuning
             defaults), the run's (RunConfig), and what workers are told (WorkerSettings)
  flags      the learner's and the worker's command-line flags; --resume's saved settings
  start      where a run starts (scratch, pretrained, resumed), its checkpoints and their
             retention
  learning   the learner's loop: serve, train, stop
  status     what the learner tells as it goes: the charts of each update, the status line
  batches    what each update trains on: IMPALA's prefetched batches, A2C's and PPO's rounds
  update     `make_update(...) -> update(batch) -> metrics`, whichever the algorithm
  impala     V-trace's update; vtrace the targets, a pure function of tensors
  onpolicy   A2C's and PPO's updates; gae the advantages, a pure function of tensors
  losses     what every update shares: the network over a batch, value and KL terms, the step
  optimizer  Adam, with a step size of its own for the value heads
  rnd        random network distillation: the intrinsic reward and its predictor
  unroll     the layout of the T-step unrolls trained on, defined once
  channels   what a worker reports after each step, and the shared-memory channel that carries it
  transport  the gRPC service and client (settings; remote workers' streams); proto/ the messages
  inference  the inference server: batched actions for every worker, unrolls built from reports
  slots      a worker's place at the server: its LSTM state, the unroll it fills, its rows of a
             forward pass
  handshakes local workers from their connection to their hello
  worker     an environment worker: steps one emulator, imports no TensorFlow
  evaluator  evaluation while training (--eval_every) in a process of its own; best_model
  progress   the learner's progress bar on a terminal
  local      the learner and its environments in one process, for debugging
"""
