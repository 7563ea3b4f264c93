"""The Agent: batched acting with the LSTM state of each environment."""

import numpy as np

from retro_rl.agent import Agent
from retro_rl.model.config import NetworkConfig
from retro_rl.model.network import create_network


def test_agent_resets_the_state_of_finished_episodes_only():
    network = create_network(NetworkConfig(num_actions=5, lstm_units=8), (36, 36, 3), seed=0)
    agent = Agent(network, num_envs=2, seed=0)
    observations = np.random.default_rng(0).integers(0, 256, (2, 36, 36, 3), dtype=np.uint8)
    agent.act(observations)
    agent.observe([1, 2], [0.0, 1.0], [False, True])
    agent.act(observations)
    fresh = Agent(network, num_envs=2, seed=0)
    fresh.act(observations)
    # Environment 1 started over: same logits as a fresh agent's first step; environment 0 did not.
    np.testing.assert_allclose(agent.logits[1], fresh.logits[1], atol=1e-6)
    assert not np.allclose(agent.logits[0], fresh.logits[0], atol=1e-6)
