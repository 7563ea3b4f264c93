"""Demonstrations: .bk2 movies and the datasets made from them.

  movies    reading a movie's game, start state and buttons (no ROM needed), finding movies
  replay    replaying a movie in the emulator into (observation, action) steps
  dataset   the dataset folder: one .npz per movie and manifest.json
  parsing   parsing many movies in parallel into a dataset
  search    the look-ahead search demonstrator
  human     recording a person at the keyboard
  recording movie files and demos.json for both
"""
