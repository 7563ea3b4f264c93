import numpy as np

import network as nw
from agent import Agent, sample_actions


def test_sampling_follows_the_softmax_and_the_seed():
    logits = np.log(np.array([[0.1, 0.6, 0.3]] * 20_000))
    actions = sample_actions(logits, np.random.default_rng(0))
    np.testing.assert_allclose(np.bincount(actions, minlength=3) / 20_000, [0.1, 0.6, 0.3], atol=0.01)
    again = sample_actions(logits, np.random.default_rng(0))
    np.testing.assert_array_equal(actions, again)
    assert (sample_actions(logits[:4], None, greedy=True) == 1).all()


def test_agent_resets_the_state_of_finished_episodes_only():
    network = nw.create_network(nw.NetworkConfig(num_actions=5, lstm_units=8), (36, 36, 3), seed=0)
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
