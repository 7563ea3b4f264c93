"""Playing a policy for a number of episodes and measuring it.

  episodes  one emulator per episode, episodes played by a policy, the random baseline
  report    the statistics, the printed table and the saved JSON
  video     an episode written to .mp4/.gif, and the live window
"""
