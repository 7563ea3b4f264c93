"""Runs beyond one machine: the learner and the environment workers placed and supervised by
Ray (run_on_ray.py). `processes` holds the Ray actors, `launch` the run."""
