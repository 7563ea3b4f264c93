"""Shows the CNN-LSTM policy: its layers and parameter counts, for given settings or for a
saved model folder (with what that model was trained on).

    python network.py                                        # the default network
    python network.py --torso impala --lstm_units 512
    python network.py --model_name supervised_model_2500     # a model folder under model/

The network itself lives in the package (retro_rl/model: network, distribution, checkpoints);
training, evaluation and the actors all build it from a model folder's config.json.
"""

import json

from retro_rl import cli
from retro_rl.envs import EnvConfig, add_observation_flags
from retro_rl.model import folders
from retro_rl.model.config import TORSOS, NetworkConfig
from retro_rl.runtime import start_tensorflow


def build_parser():
    defaults = NetworkConfig()
    parser = cli.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workspace_path", default=".", help="folder holding model/")
    parser.add_argument("--model_name", default=None,
                        help="a model folder (a name under <workspace>/model/ or a path); "
                             "default: a fresh network with the settings below")
    add_observation_flags(parser)
    parser.add_argument("--torso", default=defaults.torso, choices=TORSOS, help="image network")
    parser.add_argument("--lstm_units", type=int, default=defaults.lstm_units, help="LSTM size")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    env_config = EnvConfig(frame_skip=args.frame_skip, obs_size=args.obs_size,
                           grayscale=args.grayscale, action_set=args.action_set)
    network_config = NetworkConfig(num_actions=env_config.num_actions, torso=args.torso,
                                   lstm_units=args.lstm_units)  # checked before TensorFlow
    start_tensorflow(gpu=False)
    from retro_rl.model import checkpoints
    from retro_rl.model.network import create_network

    if args.model_name is not None:
        folder = folders.find_model_folder(args.workspace_path, args.model_name)
        network, env_config, config = checkpoints.load_model(folder)
        facts = {key: value for key, value in config.items()
                 if key not in ("env", "network", "curves", "val_movies")}
        print(f"model folder {folder}")
        print(json.dumps(facts, indent=1, default=str))
    else:
        network = create_network(network_config, env_config.observation_shape, seed=0)
    print(f"observation uint8 {tuple(network.observation_shape)}, "
          f"{network.config.num_actions} actions ({env_config.action_set}), "
          f"game {env_config.game}")
    total = 0
    print(f"{'layer':<16}{'parameters':>12}")
    for layer in (network.torso, network.lstm, network.policy_head, network.value_head):
        count = int(sum(variable.numpy().size for variable in layer.trainable_variables))
        total += count
        print(f"{layer.name:<16}{count:>12,}")
    print(f"{'total':<16}{total:>12,}")
    return 0


if __name__ == "__main__":
    cli.run(main)
