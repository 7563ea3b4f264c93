"""IMPALA actor: plays one environment with the learner's latest weights and sends unrolls.

    python actor.py --learner_address 127.0.0.1:50051 --actor_id 0
    python actor.py --learner_address 192.168.1.10:50051 --actor_id 7   # from another machine

Everything it builds comes from the learner (transport's GetSettings; learner.py documents the
keys): the environment settings, the start states to sample from (one per episode), the network
and the unroll length T. So an actor needs nothing but the learner's address; the ROM of the
game must be imported on its machine. stable-retro runs one emulator per process, so one actor
plays one environment: run more actors for more environments.

Each unroll carries the LSTM state and the previous action/reward before its first observation
and T+1 real observations (the last is the next unroll's first). The actor fetches new weights
whenever the learner's answer names a version other than its own, waits out a learner that is
not up yet or restarting (with back-off, up to --connect_timeout_s), and exits 0 when the
learner says the run is over. Log: <workspace>/logs/actor_<id>.log (and stdout).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import signal
import time

import numpy as np

import cli
import env_wrappers
import learner
import transport
from cli import UserError

STATUS_EVERY_S = 30.0


def build_parser():
    parser = cli.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--learner_address", default=learner.DEFAULT_BIND,
        help=f"HOST:PORT of the learner (default {learner.DEFAULT_BIND})")
    add("--actor_id", type=int, default=0,
        help="this actor's number, unique among the run's actors (logs, the learner's stop list)")
    add("--seed", type=int, default=0,
        help="base seed: the environment and the action sampling use seed + actor_id")
    add("--workspace_path", default=".", help="folder whose logs/ receives actor_<id>.log")
    add("--connect_timeout_s", type=float, default=300.0,
        help="how long each call waits for an unreachable learner before the actor gives up")
    return parser


def parse_args(argv=None):
    """The actor's flags; the learner's (shared launcher arguments) are accepted and ignored."""
    args, unknown = build_parser().parse_known_args(argv)
    if unknown:
        _, rest = learner.build_parser().parse_known_args(unknown)
        if rest:
            raise UserError(f"unrecognized arguments: {' '.join(rest)} (see --help)")
    if args.actor_id < 0 or args.connect_timeout_s <= 0:
        raise UserError("--actor_id must be at least 0 and --connect_timeout_s positive")
    return args


class UnrollCollector:
    """Plays `env` with `agent` (one environment) and cuts the steps into unrolls of T.

    `states`: start states, one drawn per episode with `rng` (None: the game's default).
    """

    def __init__(self, env, agent, unroll_length, states, seed):
        self.env, self.agent, self.unroll_length = env, agent, unroll_length
        self.states = states
        self.rng = np.random.default_rng(seed)
        self.observation = self._reset(seed)

    def _reset(self, seed=None):
        if len(self.states) > 1:
            state = self.states[self.rng.integers(len(self.states))]
            self.env.unwrapped.load_state(state, env_wrappers.retro.data.Integrations.ALL)
        observation, _ = self.env.reset(seed=seed)
        return observation

    def collect(self, parameter_version):
        """Plays T agent steps; returns the unroll dict transport.encode_unroll expects."""
        agent, steps = self.agent, self.unroll_length
        observations = np.empty((steps + 1, *self.observation.shape), np.uint8)
        unroll = {
            "parameter_version": parameter_version,
            "observations": observations,
            "actions": np.empty(steps, np.int32), "rewards": np.empty(steps, np.float32),
            "dones": np.zeros(steps, bool), "terminated": np.zeros(steps, bool),
            "behaviour_logits": np.empty((steps, agent.network.config.num_actions), np.float32),
            "truncation_values": np.zeros(steps, np.float32),
            # What the network's inputs are before observation 0 (it resets them at starts).
            "initial_state_h": agent.state[0].numpy()[0],
            "initial_state_c": agent.state[1].numpy()[0],
            "last_action": int(agent.prev_actions[0]), "last_reward": float(agent.prev_rewards[0]),
            "episodes": [],
        }
        first_is_start = bool(agent.episode_start[0])
        observations[0] = self.observation
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
            observations[t + 1] = observation
        unroll["episode_start"] = np.concatenate([[first_is_start], unroll["dones"]])
        return unroll

    def _value(self, observation, action, reward):
        """V of an episode's last observation, continuing the LSTM state without keeping it."""
        import tensorflow as tf

        _, values, _ = self.agent.network.step(
            tf.convert_to_tensor(observation[None], tf.uint8), tf.constant([False]),
            tf.constant([action], tf.int32), tf.constant([reward], tf.float32), self.agent.state)
        return float(values[0])


def sync_parameters(client, agent, version):
    """Loads the learner's weights when they differ from `version`. Returns (version, stop)."""
    new_version, weights, stop = client.get_parameters(version)
    if weights is not None:
        agent.set_weights(weights)
        version = new_version
    return version, stop


def build_from_settings(settings):
    """Settings dict (learner.py) -> (env_config, states, network, unroll_length)."""
    import network as nw

    try:
        env_config = env_wrappers.EnvConfig.from_dict(settings["env"])
        network_config = nw.NetworkConfig.from_dict(settings["network"])
        states, unroll_length = list(settings["states"]), int(settings["unroll_length"])
        observation_shape = tuple(int(size) for size in settings["observation_shape"])
    except (KeyError, TypeError, ValueError) as error:
        raise UserError(f"the learner's settings are incomplete ({error!r}); is it the same "
                        "version of this project?") from None
    return env_config, states, nw.create_network(network_config, observation_shape), unroll_length


class Log:
    """Lines to stdout and to <workspace>/logs/actor_<id>.log."""

    def __init__(self, workspace_path, actor_id):
        os.makedirs(os.path.join(workspace_path, "logs"), exist_ok=True)
        self.prefix = f"actor {actor_id}:"
        self.file = open(os.path.join(workspace_path, "logs", f"actor_{actor_id}.log"), "a",
                         buffering=1)

    def __call__(self, message):
        line = f"{time.strftime('%H:%M:%S')} {self.prefix} {message}"
        print(line, flush=True)
        self.file.write(line + "\n")


def interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv=None):
    args = parse_args(argv)
    # Background jobs start with SIGINT ignored; the launcher's Ctrl-C must still reach us.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, interrupt)
    import tensorflow as tf
    from agent import Agent

    # Acting is one observation at a time: a GPU buys nothing and several actors would each
    # reserve its memory; one thread each leaves the cores to the other processes.
    tf.config.set_visible_devices([], "GPU")
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    log = Log(args.workspace_path, args.actor_id)
    client = transport.ActorClient(args.learner_address, actor_id=args.actor_id,
                                   deadline_s=args.connect_timeout_s)
    env = None
    try:
        log(f"connecting to the learner at {args.learner_address}")
        settings, stop = client.get_settings()
        if stop:
            log("the learner says the run is over")
            return 0
        env_config, states, network, unroll_length = build_from_settings(settings)
        seed = args.seed + args.actor_id
        agent = Agent(network, num_envs=1, seed=seed)
        version, stop = sync_parameters(client, agent, -1)
        if stop:
            log("the learner says the run is over")
            return 0
        env = env_config.make()
        collector = UnrollCollector(env, agent, unroll_length, states, seed)
        log(f"playing {env_config.game} {states} with parameters version {version}")
        unrolls, returns, last_status = 0, [], time.monotonic()
        while True:
            unroll = collector.collect(version)
            try:
                learner_version, stop = client.send_unroll(unroll)
                unrolls += 1
                returns += [episode["episode_return"] for episode in unroll["episodes"]]
            except transport.UnrollRejected as error:
                # A restarted learner may be behind our version, or be another run entirely.
                log(f"the learner refused an unroll ({error}); asking for its settings again")
                new_settings, stop = client.get_settings()
                if not stop and new_settings != settings:
                    raise UserError("the learner's settings changed (another run?); restart "
                                    "this actor") from None
                learner_version, version = None, -1
            if stop:
                log(f"the learner says the run is over; sent {unrolls} unrolls")
                return 0
            if learner_version != version:
                version, stop = sync_parameters(client, agent, version)
                if stop:
                    log(f"the learner says the run is over; sent {unrolls} unrolls")
                    return 0
            if time.monotonic() - last_status >= STATUS_EVERY_S:
                mean = f"{np.mean(returns):.1f} over {len(returns)}" if returns else "-"
                log(f"{unrolls} unrolls sent, parameters version {version}, return {mean}")
                returns, last_status = [], time.monotonic()
    except transport.LearnerUnavailable as error:
        raise UserError(f"{error}; start the learner first, or check --learner_address") from None
    finally:
        if env is not None:
            env.close()
        client.close()


if __name__ == "__main__":
    cli.run(main)
