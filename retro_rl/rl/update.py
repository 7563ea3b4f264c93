"""The learner's update, whichever the algorithm: `make_update(network, optimizer, config)`
returns a plain function `update(batch, train_policy=True) -> metrics` (floats) that a test can
call with one fake batch and the learner calls with each batch (batches.py).

- impala (impala.py): one V-trace gradient step on B unrolls from possibly stale weights.
- a2c, ppo (onpolicy.py): GAE on a round of one unroll per worker, made with these weights.

Every update skips a step whose loss or gradients are not finite (metrics
"losses/skipped_update" 1), and with train_policy False trains the value heads alone (the
value warm-up). `anchor` is the frozen pretrained network of the KL term (required when
kl_cost > 0); `rnd` (rnd.RND) adds the intrinsic rewards, trains its predictor and needs a
network with an intrinsic value head.
"""

from retro_rl.rl.impala import make_vtrace_update
from retro_rl.rl.onpolicy import make_onpolicy_update


def make_update(network, optimizer, config, anchor=None, rnd=None, seed=0):
    if config.kl_cost > 0 and anchor is None:
        raise ValueError("kl_cost > 0 needs the pretrained network as anchor")
    if rnd is not None and network.intrinsic_value_head is None:
        raise ValueError("RND needs a network with an intrinsic value head")
    if config.algorithm == "impala":
        return make_vtrace_update(network, optimizer, config, anchor, rnd)
    return make_onpolicy_update(network, optimizer, config, anchor, rnd, seed)
