"""Reinforcement learning: IMPALA's learner and actors.

  config     the learner's settings (LearnerConfig), their flags, and what actors are told
  vtrace     V-trace targets, a pure function of tensors
  update     the optimizer and one gradient step `update(batch) -> metrics`
  unroll     the layout of the T-step unrolls actors send, defined once
  transport  the gRPC server and client; proto/ holds the messages
  acting     an actor: plays, cuts unrolls, keeps its weights in step with the learner
  learning   the learner: where training starts, the loop, checkpoints and reports
"""
