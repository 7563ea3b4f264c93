"""An environment worker: steps one emulator for the learner, which chooses every action.

Everything it plays comes from the learner's settings (config.WorkerSettings): the environment,
the start states (one drawn per episode). It holds no network and imports no TensorFlow, so it
costs an emulator's memory, not a model's. stable-retro runs one emulator per process, so one
worker plays one environment: run more workers for more environments.

After every agent step it reports the outcome (channels.StepReport) and is answered with the
next action: through shared memory when the learner is on this machine, over gRPC otherwise. A
learner that is not up yet, or that restarts, is waited for (with back-off, up to
connect_timeout_s); the worker then starts a fresh episode. It returns when the learner says
the run is over. A worker that cannot go on (its environment or an episode's start fails) tells
the learner why before it raises, and the learner stops the run with that one line.
"""

import logging
import time

import numpy as np

from retro_rl.demos.starts import DemoStarts
from retro_rl.envs import games, statistics
from retro_rl.errors import UserError
from retro_rl.rl import transport
from retro_rl.rl.admission import secret_from_environment
from retro_rl.rl.channels import ConnectionLost, LocalChannel, StepReport
from retro_rl.rl.config import WorkerSettings

STATUS_EVERY_S = 30.0
log = logging.getLogger("worker")


def open_channel(settings, client, worker_id, timeout_s):
    """Shared memory when the learner is on this machine, else a gRPC stream."""
    if settings.local_address:
        try:
            return LocalChannel(settings.local_address, worker_id, settings.observation_shape,
                                timeout_s), "shared memory"
        except ConnectionLost:
            pass  # another machine's learner, or one that has just gone
    return client.remote_channel(), "gRPC"


class Player:
    """Plays `env` for one learner connection at a time; episodes and statistics carry on.

    states: the start states an episode draws one of. starts (demos.starts.DemoStarts) and
    demo_start_fraction: that share of episodes starts along a demonstration instead.
    """

    def __init__(self, env, states, seed, starts=None, demo_start_fraction=0.0):
        self.env, self.states = env, states
        self.starts, self.demo_start_fraction = starts, demo_start_fraction
        self.rng = np.random.default_rng(seed)
        self.seed = seed  # of the first reset; later resets go on from it
        self.steps, self.returns, self.demo_starts = 0, [], []

    def reset(self):
        options = None
        if self.starts is not None and self.rng.random() < self.demo_start_fraction:
            movie, step = self.starts.sample(self.rng)
            options = {"start": lambda retro_env: self.starts.start(retro_env, movie, step)}
            self.demo_starts.append((movie, step))
        elif len(self.states) > 1:
            games.load_state(self.env, games.choose_state(self.states, rng=self.rng))
        observation, _ = self.env.reset(seed=self.seed, options=options)
        self.seed = None
        return observation

    def play(self, channel):
        """Plays until the learner says stop (returns) or the channel fails (ConnectionLost);
        every connection starts with a fresh episode."""
        report, last_status = StepReport(self.reset(), first=True), time.monotonic()
        while True:
            action, stop = channel.step(report)
            if stop:
                return
            observation, reward, terminated, truncated, info = self.env.step(action)
            self.steps += 1
            final, episode = None, None
            if terminated or truncated:
                # none where a life lost ends the learner's episode but not the game
                if statistics.EPISODE_STATS in info:
                    episode = statistics.as_numbers(info[statistics.EPISODE_STATS])
                    self.returns.append(episode["return"])
                if not terminated:
                    final = observation
                observation = self.reset()
            report = StepReport(observation, float(reward), terminated or truncated,
                                bool(terminated), final, episode)
            if time.monotonic() - last_status >= STATUS_EVERY_S:
                mean = f"{np.mean(self.returns):.1f} over {len(self.returns)}" \
                    if self.returns else "-"
                log.info(f"{self.steps} steps played, return {mean}")
                self.returns, last_status = [], time.monotonic()


def describe(error):
    """One line for the learner about why this worker cannot go on."""
    return str(error) if isinstance(error, UserError) else f"{type(error).__name__}: {error}"


def tell_failure(settings, client, worker_id, timeout_s, error):
    """Tells the learner this worker cannot go on (a channel opened for that alone)."""
    try:
        channel, _ = open_channel(settings, client, worker_id, timeout_s)
    except ConnectionError:
        return  # no learner to tell
    try:
        channel.fail(describe(error))
    finally:
        channel.close()


def run_worker(learner_address, worker_id, seed, connect_timeout_s):
    """Plays for the learner at `learner_address` until it says the run is over."""
    client = transport.WorkerClient(learner_address, worker_id=worker_id,
                                    deadline_s=connect_timeout_s,
                                    secret=secret_from_environment())
    env, known, player = None, None, None
    try:
        while True:
            log.info(f"connecting to the learner at {learner_address}")
            settings_dict, stop = client.get_settings()
            if stop:
                log.info("the learner says the run is over")
                return
            settings = WorkerSettings.from_dict(settings_dict)
            if known is not None and not known.same_run(settings):
                raise UserError("the learner's settings changed (another run?); restart "
                                "this worker")
            known = settings
            if env is None:
                try:
                    env = settings.env.make()
                    starts = None
                    if settings.demo_start_fraction > 0:
                        starts = DemoStarts(client.get_demonstrations(),
                                            settings.env.frame_skip)
                        log.info(f"starting {settings.demo_start_fraction:.0%} of episodes "
                                 f"along {len(starts.demonstrations)} demonstrations")
                    player = Player(env, settings.states, seed + worker_id, starts,
                                    settings.demo_start_fraction)
                except (transport.LearnerUnavailable, transport.Unauthenticated):
                    raise
                except Exception as error:
                    tell_failure(settings, client, worker_id, connect_timeout_s, error)
                    raise
            channel, kind = open_channel(settings, client, worker_id, connect_timeout_s)
            log.info(f"playing {settings.env.game} {list(settings.states)} over {kind}")
            try:
                player.play(channel)
                log.info(f"the learner says the run is over; played {player.steps} steps")
                return
            except ConnectionLost as error:
                log.info(f"lost the learner ({error}); waiting for it to come back")
                time.sleep(1.0)  # a learner that refused this worker is not asked at once again
            except transport.StepRejected:
                raise
            except Exception as error:
                channel.fail(describe(error))
                raise
            finally:
                channel.close()
    except transport.LearnerUnavailable as error:
        raise UserError(f"{error}; start the learner first, or check --learner_address") from None
    except transport.StepRejected as error:
        raise UserError(f"the learner refused this worker's report ({error})") from None
    except transport.Unauthenticated as error:
        raise UserError(str(error)) from None
    finally:
        if env is not None:
            env.close()
        client.close()
