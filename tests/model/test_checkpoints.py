"""Model folders: what is saved comes back exactly, with the optimizer's state."""

import keras
import numpy as np
import pytest

from retro_rl.envs import EnvConfig
from retro_rl.errors import UserError
from retro_rl.model import checkpoints
from retro_rl.model.config import NetworkConfig
from retro_rl.model.network import create_network
from tests.model.test_network import OBS_SHAPE, random_inputs


@pytest.mark.parametrize("torso", ["nature", "impala"])
def test_model_folder_round_trip(tmp_path, torso):
    config = NetworkConfig(torso=torso, lstm_units=32)
    network = create_network(config, OBS_SHAPE, seed=1)
    env_config = EnvConfig(frame_skip=3)
    inputs = random_inputs(network, 3, 2)
    before, _, _ = network.unroll(*inputs, network.initial_state(2))
    optimizer = keras.optimizers.Adam(1e-3)
    optimizer.build(network.trainable_variables)
    optimizer.iterations.assign(17)
    path = tmp_path / "model" / "supervised_model_5"
    checkpoints.save_model(path, network, env_config, {"kind": "supervised", "step": 5}, optimizer)

    loaded, loaded_env_config, config_dict = checkpoints.load_model(path)
    assert loaded_env_config == env_config and loaded.config == config
    assert config_dict["step"] == 5
    after, _, _ = loaded.unroll(*inputs, loaded.initial_state(2))
    np.testing.assert_array_equal(before, after)

    restored = keras.optimizers.Adam(1e-3)
    assert checkpoints.load_optimizer_state(path, restored, loaded.trainable_variables)
    assert int(restored.iterations.numpy()) == 17

    # Perturbed weights give other outputs: the comparison above is not vacuous.
    loaded.set_weights([w + 0.01 for w in loaded.get_weights()])
    perturbed, _, _ = loaded.unroll(*inputs, loaded.initial_state(2))
    assert not np.allclose(before, perturbed)

    assert checkpoints.list_models(tmp_path) == ["supervised_model_5"]
    checkpoints.save_model(tmp_path / "model" / "supervised_model_12", network, env_config)
    assert checkpoints.newest_checkpoint(tmp_path, "supervised_model_").endswith("supervised_model_12")


def test_not_a_model_folder(tmp_path):
    with pytest.raises(UserError, match="not a model folder"):
        checkpoints.load_model(tmp_path)
