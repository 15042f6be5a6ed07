"""The default simulated world against the Congress data, within the stated tolerances."""

import pandas as pd
import pytest

from clout.data.loaders import load_congress
from clout.data.plausibility import TOLERANCES, compare
from clout.data.simulator import preset, simulate
from support import shared_dataset


@pytest.mark.realdata
def test_default_world_is_plausible_against_congress():
    congress = load_congress(shared_dataset("congress"))
    config = preset("default")
    sim, truth = simulate(config)
    table = compare(sim, truth, congress, pd.Timestamp(config.start, tz="UTC"))
    assert len(table) == sum(len(t) for t in TOLERANCES.values())
    outside = table[~table["ok"]]
    assert outside.empty, f"outside tolerance:\n{outside.to_string()}"
