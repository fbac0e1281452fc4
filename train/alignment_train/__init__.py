"""alignment_train: a torch training reference for SFT, reward modelling, PPO, DPO, KTO, ORPO.

Each method is one readable file (``sft.py``, ``reward_model.py``, ``ppo.py``, ``dpo.py``,
``kto.py``, ``orpo.py``) whose losses are pure functions named like their NumPy twins in
``alignment_math``; ``common.py`` and ``engine.py`` hold the shared plumbing; ``task.py`` the
synthetic task with a known true reward. Command line: ``alignment-train <stage>``.
See docs/training.md.
"""

STAGES = ("sft", "rm", "ppo", "dpo", "kto", "orpo")
