"""DPO: the loss, the implicit rewards and the gradient weight of one preference pair.

Chapter 5 (docs/chapters/05-dpo.md).  The reader sets the policy-vs-reference
log-ratios of the chosen response, log π(y_w) − log π_ref(y_w), and of the
rejected one, and β.  With h = chosen log-ratio − rejected log-ratio the loss is
−log σ(βh); each response's implicit reward is β times its log-ratio; and
σ(−βh) is how strongly the gradient still pushes this pair.
"""

from __future__ import annotations

import numpy as np

from alignment_math import dpo_gradient_weight, dpo_loss, dpo_rewards

from ._spec import Chart, Marker, Readout, Result, Series, Slider, widget

_H = np.linspace(-20.0, 20.0, 401)


@widget(
    "dpo",
    title="DPO: loss, implicit rewards and gradient weight",
    summary=(
        "Move how much more (or less) likely the policy makes each response than the "
        "reference does, and β: the loss, the implicit rewards and the gradient weight follow."
    ),
    controls=[
        Slider("chosen_logratio", "Chosen log-ratio log π(y_w) − log π_ref(y_w)",
               -10.0, 10.0, 0.1, 1.0, "nats"),
        Slider("rejected_logratio", "Rejected log-ratio log π(y_l) − log π_ref(y_l)",
               -10.0, 10.0, 0.1, -1.0, "nats"),
        Slider("beta", "β (KL strength)", 0.01, 1.0, 0.01, 0.1),
    ],
    readouts=[
        Readout("loss", "Loss −log σ(βh)", "nats"),
        Readout("reward_chosen", "Implicit reward of y_w"),
        Readout("reward_rejected", "Implicit reward of y_l"),
        Readout("weight", "Gradient weight σ(−βh)"),
    ],
)
def dpo(chosen_logratio: float, rejected_logratio: float, beta: float) -> Result:
    # Log-ratios are relative to the reference, so the reference log-probs are 0 here.
    loss = float(dpo_loss(chosen_logratio, rejected_logratio, 0.0, 0.0, beta=beta))
    weight = float(dpo_gradient_weight(chosen_logratio, rejected_logratio, 0.0, 0.0, beta=beta))
    h = chosen_logratio - rejected_logratio
    chart = Chart(
        title="DPO loss over the log-ratio margin h",
        x=_H,
        x_label="margin h (nats)",
        y_label="value",
        series=[
            Series("loss −log σ(βh)", dpo_loss(_H, 0.0, 0.0, 0.0, beta=beta), color="blue"),
            Series("gradient weight σ(−βh)", dpo_gradient_weight(_H, 0.0, 0.0, 0.0, beta=beta),
                   color="orange", dash=True),
        ],
        markers=[Marker(h, loss, "current pair")],
        y_min=0.0,
    )
    return Result(
        readouts={
            "loss": loss,
            "reward_chosen": float(dpo_rewards(chosen_logratio, 0.0, beta=beta)),
            "reward_rejected": float(dpo_rewards(rejected_logratio, 0.0, beta=beta)),
            "weight": weight,
        },
        charts=[chart],
    )
