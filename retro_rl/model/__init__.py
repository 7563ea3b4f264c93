"""The policy and where it lives on disk.

  network       the CNN-LSTM policy-value network and its settings
  distribution  the policy's action distribution: sampling, log-probabilities, entropy, KL
  checkpoints   model folders: saving, loading, finding the newest checkpoint
"""
