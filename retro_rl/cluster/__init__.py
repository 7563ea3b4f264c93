"""The launchers' process handling: `children` (what both share: the learner's command line, its
address through a pipe, children that die with their launcher), `local` (the run on this
machine, run_reinforcement_learning.sh), and beyond one machine with Ray (run_on_ray.py):
`processes` holds the Ray actors, `launch` the run."""
