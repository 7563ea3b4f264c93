#!/usr/bin/env bash
# Reinforcement learning on this machine: run_reinforcement_learning.py, which --help describes.
here=$(dirname "$0"); python=$here/.venv/bin/python; [ -x "$python" ] || python=python3
exec "$python" "$here/run_reinforcement_learning.py" "$@"
