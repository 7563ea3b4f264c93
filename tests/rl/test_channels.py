"""What a worker reports: every way a report can break the contract is refused, and the local
channel carries reports and answers whole through shared memory."""

import math
import socket
import threading

import numpy as np
import pytest

from retro_rl.rl.channels import (MAX_ABS_REWARD, ConnectionLost, LocalChannel, LocalListener,
                                  StepReport, check_report)

SHAPE = (8, 10, 3)
EPISODE = {"episode_return": 12.5, "length": 40, "frames": 160, "x_progress": 0.25,
           "level_complete": True, "rooms": 0b10110}


def observation(seed=0):
    return np.random.default_rng(seed).integers(0, 256, SHAPE, np.uint8)


def good_reports():
    yield StepReport(observation(), first=True)
    yield StepReport(observation(), reward=-3.5)
    yield StepReport(observation(), 1.0, done=True, terminated=True, episode=EPISODE)
    yield StepReport(observation(), 1.0, done=True, final_observation=observation(1),
                     episode=EPISODE)


@pytest.mark.parametrize("report, problem", [
    (StepReport(observation().astype(np.float32)), "observation must be uint8"),
    (StepReport(observation()[:4]), "observation must be uint8"),
    (StepReport(observation(), math.nan), "not finite"),
    (StepReport(observation(), math.inf), "not finite"),
    (StepReport(observation(), 2 * MAX_ABS_REWARD), "beyond"),
    (StepReport(observation(), terminated=True), "terminated without done"),
    (StepReport(observation(), done=True, terminated=True, first=True, episode=EPISODE),
     "first report"),
    (StepReport(observation(), done=True, episode=EPISODE), "final_observation"),
    (StepReport(observation(), final_observation=observation()), "final_observation"),
    (StepReport(observation(), episode=EPISODE), "episode statistics"),
    (StepReport(observation(), done=True, terminated=True,
                episode=dict(EPISODE, episode_return=math.nan)), "NaN"),
    (StepReport(observation(), done=True, terminated=True, episode=dict(EPISODE, length=-2)),
     "length -2"),
    (StepReport(observation(), done=True, terminated=True, episode=dict(EPISODE, frames=-1)),
     "-1 frames"),
])
def test_malformed_reports_are_refused(report, problem):
    with pytest.raises(ValueError, match=problem):
        check_report(report, SHAPE)


def test_well_formed_reports_pass():
    for report in good_reports():
        check_report(report, SHAPE)


def test_a_life_lost_ends_the_episode_without_the_games_statistics():
    # LifeLossEnds: the learner's episode ends, the game (whose statistics come later) goes on.
    check_report(StepReport(observation(), 1.0, done=True, terminated=True), SHAPE)


def test_the_local_channel_carries_reports_and_answers_whole(tmp_path):
    listener = LocalListener(f"test-{tmp_path.name}")
    received = []

    def learner():
        worker_id, end = listener.accept("token", SHAPE)
        received.append(worker_id)
        for action in range(4):
            report = end.receive()
            # Copy now: the pages are the worker's again once it has its answer.
            received.append(report._replace(
                observation=report.observation.copy(),
                final_observation=None if report.final_observation is None
                else report.final_observation.copy()))
            end.answer(action, stop=action == 3)
        try:
            end.receive()
        except ConnectionLost:
            received.append("closed")  # the worker closed its end
        end.close()

    thread = threading.Thread(target=learner)
    thread.start()
    channel = LocalChannel(listener.address, "token", 7, SHAPE, timeout_s=10)
    answers = [channel.step(report) for report in good_reports()]
    channel.close()
    thread.join(timeout=10)
    listener.close()
    assert answers == [(0, False), (1, False), (2, False), (3, True)]
    assert received[0] == 7 and received[-1] == "closed" and len(received) == 6
    for sent, got in zip(good_reports(), received[1:5]):
        np.testing.assert_array_equal(got.observation, sent.observation)
        if sent.final_observation is None:
            assert got.final_observation is None
        else:
            np.testing.assert_array_equal(got.final_observation, sent.final_observation)
        assert (got.reward, got.done, got.terminated, got.first) == (
            sent.reward, sent.done, sent.terminated, sent.first)
        assert got.episode == sent.episode


def test_a_caller_without_the_runs_token_is_turned_away(tmp_path):
    listener = LocalListener(f"test-{tmp_path.name}")
    accepted = []
    thread = threading.Thread(target=lambda: accepted.append(listener.accept("right", SHAPE)))
    thread.start()
    with pytest.raises(ConnectionLost, match="refused"):
        LocalChannel(listener.address, "wrong", 0, SHAPE, timeout_s=10)
    thread.join(timeout=10)
    assert accepted == [None]
    # Garbage instead of a hello is turned away too.
    thread = threading.Thread(target=lambda: accepted.append(listener.accept("right", SHAPE)))
    thread.start()
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as intruder:
        intruder.connect(listener.address)
        intruder.send(b"\xff\xfe not json")
        assert intruder.recv(100) == b""
    thread.join(timeout=10)
    assert accepted == [None, None]
    listener.close()


def test_no_local_learner_is_a_lost_connection():
    with pytest.raises(ConnectionLost, match="no local learner"):
        LocalChannel("\0retro_rl-nobody-listens-here", "token", 0, SHAPE, timeout_s=1)
