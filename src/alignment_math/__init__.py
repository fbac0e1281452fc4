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
from ._playground import (
    ANNOTATOR_FLAWS,
    FEATURE_NAMES,
    TRUE_WEIGHTS,
    PlaygroundPairs,
    PlaygroundTask,
    best_of_n_policy,
    dpo_step,
    kto_step,
    log_softmax,
    make_playground_task,
    policy_metrics,
    ppo_step,
    reward_model_step,
    sample_responses,
    simulate_annotators,
)
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
    "ANNOTATOR_FLAWS",
    "DPO_LOSS_TYPES",
    "FEATURE_NAMES",
    "STEP_AGGREGATES",
    "TRUE_WEIGHTS",
    "BradleyTerryFit",
    "PlaygroundPairs",
    "PlaygroundTask",
    "aggregate_step_scores",
    "best_of_n_kl",
    "best_of_n_policy",
    "best_of_n_selection",
    "bradley_terry_loss",
    "bradley_terry_probability",
    "dpo_gradient_weight",
    "dpo_log_ratio",
    "dpo_loss",
    "dpo_rewards",
    "dpo_step",
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
    "kto_step",
    "log_softmax",
    "make_playground_task",
    "optimal_policy",
    "orpo_log_odds",
    "orpo_log_odds_ratio",
    "orpo_loss",
    "performance_gap_recovered",
    "policy_metrics",
    "ppo_clip_objective",
    "ppo_step",
    "prospect_value",
    "proxy_true_sweep",
    "reward_model_step",
    "sample_responses",
    "simulate_annotators",
    "simulate_preference_pairs",
]
