"""An IMPALA actor: plays one environment with the learner's latest weights and sends unrolls.

Everything it builds comes from the learner (config.RunSettings): the environment settings, the
start states to sample from (one per episode), the network and the unroll length T. So an actor
needs nothing but the learner's address; the ROM of the game must be imported on its machine.
stable-retro runs one emulator per process, so one actor plays one environment.

Each unroll carries the LSTM state and the previous action/reward before its first observation
and T+1 real observations (the last is the next unroll's first). The actor fetches new weights
whenever the learner's answer names a version other than its own, waits out a learner that is
not up yet or restarting (with back-off, up to connect_timeout_s), and returns when the learner
says the run is over.
"""

import logging
import time

import numpy as np

from retro_rl.agent import Agent
from retro_rl.envs import games
from retro_rl.errors import UserError
from retro_rl.model.network import create_network
from retro_rl.rl import transport
from retro_rl.rl.config import RunSettings
from retro_rl.rl.unroll import UnrollSpec

STATUS_EVERY_S = 30.0
log = logging.getLogger("actor")


class UnrollCollector:
    """Plays `env` with `agent` (one environment) and cuts the steps into unrolls of T.

    `states`: start states, one drawn per episode with `rng` (None: the game's default).
    """

    def __init__(self, env, agent, unroll_length, states, seed):
        self.env, self.agent = env, agent
        self.spec = UnrollSpec(unroll_length, env.observation_space.shape,
                               agent.network.config.num_actions, agent.network.config.lstm_units)
        self.states = states
        self.rng = np.random.default_rng(seed)
        self.observation = self._reset(seed)

    def _reset(self, seed=None):
        if len(self.states) > 1:
            games.load_state(self.env, games.choose_state(self.states, rng=self.rng))
        observation, _ = self.env.reset(seed=seed)
        return observation

    def collect(self, parameter_version):
        """Plays T agent steps; returns an unroll (unroll.py's layout)."""
        agent, steps = self.agent, self.spec.unroll_length
        unroll = self.spec.empty(parameter_version)
        # What the network's inputs are before observation 0 (it resets them at starts).
        unroll["initial_state_h"][:] = agent.state[0].numpy()[0]
        unroll["initial_state_c"][:] = agent.state[1].numpy()[0]
        unroll["last_action"][...] = agent.prev_actions[0]
        unroll["last_reward"][...] = agent.prev_rewards[0]
        unroll["episode_start"][0] = agent.episode_start[0]
        unroll["observations"][0] = self.observation
        for t in range(steps):
            action = int(agent.act(self.observation[None])[0])
            unroll["behaviour_logits"][t] = agent.logits[0]
            observation, reward, terminated, truncated, info = self.env.step(action)
            done = terminated or truncated
            unroll["actions"][t], unroll["rewards"][t] = action, reward
            unroll["dones"][t], unroll["terminated"][t] = done, terminated
            if truncated and not terminated:
                # The learner cannot see this observation (index t+1 is the next episode's).
                unroll["truncation_values"][t] = self._value(observation, action, reward)
            agent.observe([action], [reward], [done])
            if done:
                episode = info["episode"]
                unroll["episodes"].append({
                    "episode_return": episode["return"], "length": episode["length"],
                    "frames": episode["frames"], "x_progress": episode.get("x_progress", 0.0)})
                observation = self._reset()
            self.observation = observation
            unroll["observations"][t + 1] = observation
        unroll["episode_start"][1:] = unroll["dones"]
        return unroll

    def _value(self, observation, action, reward):
        """V of an episode's last observation, continuing the LSTM state without keeping it."""
        _, values, _ = self.agent.network.step(
            observation[None], np.array([False]), np.array([action], np.int32),
            np.array([reward], np.float32), self.agent.state)
        return float(values[0])


def sync_parameters(client, agent, version):
    """Loads the learner's weights when they differ from `version`. Returns (version, stop)."""
    new_version, weights, stop = client.get_parameters(version)
    if weights is not None:
        agent.set_weights(weights)
        version = new_version
    return version, stop


def run_actor(learner_address, actor_id, seed, connect_timeout_s):
    """Plays for the learner at `learner_address` until it says the run is over."""
    import tensorflow as tf

    # Acting is one observation at a time: a GPU buys nothing and several actors would each
    # reserve its memory; one thread each leaves the cores to the other processes.
    tf.config.set_visible_devices([], "GPU")
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    client = transport.ActorClient(learner_address, actor_id=actor_id,
                                   deadline_s=connect_timeout_s)
    env = None
    try:
        log.info(f"connecting to the learner at {learner_address}")
        settings_dict, stop = client.get_settings()
        if stop:
            log.info("the learner says the run is over")
            return
        settings = RunSettings.from_dict(settings_dict)
        network = create_network(settings.network, settings.observation_shape)
        agent = Agent(network, num_envs=1, seed=seed + actor_id)
        version, stop = sync_parameters(client, agent, -1)
        if stop:
            log.info("the learner says the run is over")
            return
        env = settings.env.make()
        collector = UnrollCollector(env, agent, settings.unroll_length, settings.states,
                                    seed + actor_id)
        log.info(f"playing {settings.env.game} {list(settings.states)} with parameters "
                 f"version {version}")
        unrolls, returns, last_status = 0, [], time.monotonic()
        while True:
            unroll = collector.collect(version)
            try:
                learner_version, stop = client.send_unroll(unroll)
                unrolls += 1
                returns += [episode["episode_return"] for episode in unroll["episodes"]]
            except transport.UnrollRejected as error:
                # A restarted learner may be behind our version, or be another run entirely.
                log.info(f"the learner refused an unroll ({error}); asking for its settings "
                         "again")
                new_settings, stop = client.get_settings()
                if not stop and new_settings != settings_dict:
                    raise UserError("the learner's settings changed (another run?); restart "
                                    "this actor") from None
                learner_version, version = None, -1
            if not stop and learner_version != version:
                version, stop = sync_parameters(client, agent, version)
            if stop:
                log.info(f"the learner says the run is over; sent {unrolls} unrolls")
                return
            if time.monotonic() - last_status >= STATUS_EVERY_S:
                mean = f"{np.mean(returns):.1f} over {len(returns)}" if returns else "-"
                log.info(f"{unrolls} unrolls sent, parameters version {version}, return {mean}")
                returns, last_status = [], time.monotonic()
    except transport.LearnerUnavailable as error:
        raise UserError(f"{error}; start the learner first, or check --learner_address") from None
    finally:
        if env is not None:
            env.close()
        client.close()
