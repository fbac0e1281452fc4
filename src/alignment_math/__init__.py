"""alignment_math: the math of LLM alignment in pure NumPy.

One function per idea, grouped by the chapter that teaches it; every name is
re-exported here (``from alignment_math import dpo_loss``). Conventions: inputs are
array-likes, outputs have the broadcast shape of the inputs with no reduction (take
``.mean()`` yourself), log-probabilities are natural-log sums over a response's tokens
unless the name says ``avg``, and bad parameters raise :class:`ValueError` naming the
parameter and its allowed range.
"""

from ._dpo import DPO_LOSS_TYPES, dpo_gradient_weight, dpo_log_ratio, dpo_loss, dpo_rewards
from ._kl import implicit_reward, kl_divergence, optimal_policy
from ._kto import kto_loss, kto_reference_point
from ._orpo import orpo_log_odds, orpo_log_odds_ratio, orpo_loss
from ._overopt import best_of_n_kl, gold_reward_best_of_n, gold_reward_rl, proxy_true_sweep
from ._oversight import performance_gap_recovered
from ._ppo import gae, kl_estimators, kl_penalized_rewards, ppo_clip_objective
from ._preference import (
    BradleyTerryFit,
    bradley_terry_loss,
    bradley_terry_probability,
    fit_bradley_terry,
)
from ._process import STEP_AGGREGATES, aggregate_step_scores, best_of_n_selection
from ._prospect import prospect_value
from ._simulate import simulate_preference_pairs

__version__ = "0.1.0"

__all__ = [
    "DPO_LOSS_TYPES",
    "STEP_AGGREGATES",
    "BradleyTerryFit",
    "aggregate_step_scores",
    "best_of_n_kl",
    "best_of_n_selection",
    "bradley_terry_loss",
    "bradley_terry_probability",
    "dpo_gradient_weight",
    "dpo_log_ratio",
    "dpo_loss",
    "dpo_rewards",
    "fit_bradley_terry",
    "gae",
    "gold_reward_best_of_n",
    "gold_reward_rl",
    "implicit_reward",
    "kl_divergence",
    "kl_estimators",
    "kl_penalized_rewards",
    "kto_loss",
    "kto_reference_point",
    "optimal_policy",
    "orpo_log_odds",
    "orpo_log_odds_ratio",
    "orpo_loss",
    "performance_gap_recovered",
    "ppo_clip_objective",
    "prospect_value",
    "proxy_true_sweep",
    "simulate_preference_pairs",
]
