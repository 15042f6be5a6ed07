"""Influence in three parts, as Klout defined them, and how they combine: one definition for
the simulator's truth and for the score.

- **reach**: how many distinct credible people react to the account in a horizon;
- **amplification**: how likely a post is to cause actions (engagement per post);
- **network**: how influential the people who react are (the typical engager's own reach).

Overall influence is their weighted geometric mean, prod_c q_c ** w_c (weights summing to 1):
a factor on any one component moves it by that factor to the power of the component's weight.
Reach weighs most by default because people judge influence by how many people react.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

COMPONENTS = ("reach", "amplification", "network")
INFLUENCE_WEIGHTS = {"reach": 0.5, "amplification": 0.25, "network": 0.25}
FLOOR = 1e-6  # a component below this counts as this: a zero would zero the whole product
#: a simulated world's truth per topic: `true_amplification@<topic>`, engagement per post on it
TOPIC_TRUTH = "true_amplification@"


def log10_influence(components: Mapping[str, np.ndarray],
                    weights: Mapping[str, float] = INFLUENCE_WEIGHTS) -> np.ndarray:
    """log10 of prod_c q_c ** w_c over the `components` given (a source may lack one), each
    q_c floored at `FLOOR`, their weights normalised to sum 1."""
    total = sum(weights[c] for c in components)
    return sum(weights[c] / total * np.log10(np.maximum(np.asarray(q, float), FLOOR))
               for c, q in components.items())
