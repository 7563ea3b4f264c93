"""What an agent sees and does.

  actions       the pad's buttons, the discrete action tables, and the projection of any button
                combination onto a table
  games         game ids, start states, ROM checks, and what is known about particular games
  emulator      the raw stable-retro environment and the one frame-by-frame emulation loop
  observations  screen -> observation
  wrappers      the gymnasium wrappers make_env stacks
  statistics    the episode statistics (name -> number) an environment reports and the learner
                charts, defined once
  config        EnvConfig (saved with every model) and make_env
  gymnasium_games  registered Gymnasium ids (ALE/Pong-v5) as games: the ALE's Atari setup
  registration  the toolkit's own environments as Gymnasium ids, retro_rl/<game>

Units: a *frame* is one emulator frame (1/60 s); an *agent step* is `frame_skip` frames with the
same buttons held. Time limits count agent steps; episode statistics report both.
"""

from retro_rl.envs.config import EnvConfig, add_observation_flags, make_env  # noqa: F401
