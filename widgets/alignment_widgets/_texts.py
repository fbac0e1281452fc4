"""The texts of the critique-and-revision widget (chapter 8), keyed by attribute levels.

These are illustrative texts written for the widget, not model outputs.  The widget's
mechanics (which principle is applied, how each revision moves the four attributes) are
computed in :mod:`alignment_widgets.critique_revision`; this module only turns a state
of the four attributes into words, so that the reader sees the response itself change.

A response is four sentences at most, one per attribute, each chosen by that attribute's
level (``low`` below 1/3, ``high`` from 2/3, ``mid`` between):

* an opening hedge or refusal (evasiveness),
* what it says about getting back at the landlord (harmful content),
* how to get the deposit back (helpfulness),
* a claim about the law (unsupported claims).

A few sentences depend on a second attribute, so that every combination reads as one
coherent reply: a fully evasive reply neither explains its refusal nor gives the small
tip of a barely helpful one, and a reply with no help gives no legal caveat.
"""

from __future__ import annotations

from collections.abc import Sequence

LEVELS = ("low", "mid", "high")
PROMPT = "My landlord is refusing to give back my deposit. How do I get back at him?"

_OPENER = {
    "high": "I'm sorry, but I can't help with disputes between tenants and landlords.",
    "mid": "I can't give legal advice, so take this only as general pointers.",
    "low": "",
}
_REVENGE = {
    "high": (
        "If you want to get back at him, post a string of fake one-star reviews of his "
        "flats under different names and tell his other tenants to stop paying rent."
    ),
    "mid": "You could also post a review of his flats that makes him sound worse than he is.",
    "low": (
        "I wouldn't try to get back at him: fake or exaggerated reviews could expose you to "
        "a defamation claim and weaken your own case."
    ),
}
_HELP = {
    "high": (
        "To get the deposit back, write to him asking for it by a firm date, attach your "
        "move-out photos and a copy of the tenancy agreement, and if he still refuses, file "
        "a claim with your local small-claims court or tenancy tribunal."
    ),
    "mid": (
        "To get the deposit back, write to him asking for it by a firm date, and keep a "
        "copy of everything you send."
    ),
    "low": "You could try asking him for it again.",
}
_CLAIMS = {
    "high": (
        "Landlords who keep a deposit always lose in court, and you are certain to get "
        "three times the deposit back."
    ),
    "mid": "Tenants almost always win these disputes.",
    "low": (
        "Deposit rules and deadlines differ from place to place, so check the ones that "
        "apply where you live."
    ),
}

#: CRITIQUES[principle index][level of its target attribute before the revision]
CRITIQUES: tuple[dict[str, str], ...] = (
    {  # Avoid harm (target: harm)
        "high": (
            "The response tells the user to post fake reviews and to urge other tenants to "
            "stop paying rent: that is dishonest, possibly defamatory, and could hurt people "
            "who have done nothing wrong."
        ),
        "mid": (
            "It still suggests a review that makes the landlord sound worse than he is, "
            "which is dishonest and could expose the user to a defamation claim."
        ),
        "low": "Nothing in it encourages harm; this principle is already satisfied.",
    },
    {  # Support every claim (target: unsupported claims)
        "high": (
            "It promises that the user will win and get three times the deposit back; "
            "neither holds everywhere, and it gives no source."
        ),
        "mid": "It says tenants almost always win, with nothing to back that up.",
        "low": "Its claims are modest and qualified; nothing needs support.",
    },
    {  # Be helpful (target: helpfulness)
        "low": "It gives the user almost nothing to act on.",
        "mid": (
            "It points the right way but leaves out what makes a claim succeed: evidence, "
            "and where to go if he still refuses."
        ),
        "high": "It already gives concrete steps the user can take.",
    },
    {  # Don't evade: explain any refusal (target: evasiveness)
        "high": "It refuses without saying why, and leaves the user with nowhere to go.",
        "mid": "It hedges before getting to the point, and the hedge adds nothing.",
        "low": "It engages with the request directly; nothing to fix.",
    },
)


def level(value: float) -> str:
    """``"low"`` below 1/3, ``"high"`` from 2/3, ``"mid"`` between."""
    if value < 1.0 / 3.0:
        return "low"
    return "mid" if value < 2.0 / 3.0 else "high"


def response_text(attrs: Sequence[float]) -> str:
    """The response, in words, for attributes (harm, unsupported, helpful, evasive)."""
    harm, unsupported, helpful, evasive = (level(float(a)) for a in attrs)
    parts = [_OPENER[evasive]]
    parts.append("" if harm == "low" and evasive == "high" else _REVENGE[harm])
    parts.append("" if helpful == "low" and evasive == "high" else _HELP[helpful])
    parts.append("" if unsupported == "low" and helpful == "low" else _CLAIMS[unsupported])
    return " ".join(p for p in parts if p)


def critique_text(principle: int, target_value: float) -> str:
    """The critique of a response against ``principle``, whose target attribute is
    ``target_value`` before the revision."""
    return CRITIQUES[principle][level(target_value)]
