"""Dense blocks in the engager-by-engaged graph (`clout.features.dense_blocks`, FRAUDAR):
greedy peeling against a brute-force search, and a planted block found through camouflage."""

from __future__ import annotations

import itertools

import numpy as np
from scipy import sparse

from clout.features.dense_blocks import column_weighted, dense_blocks, densest_block


def _density(weights: np.ndarray, rows, cols) -> float:
    size = len(rows) + len(cols)
    return float(weights[np.ix_(rows, cols)].sum() / size) if size else 0.0


def test_peeling_reports_its_blocks_density_and_is_within_half_of_the_densest():
    rng = np.random.default_rng(0)
    for _ in range(20):
        graph = sparse.csr_matrix(rng.random((5, 5)) < rng.uniform(0.2, 0.7))
        if graph.nnz == 0:
            continue
        weights = column_weighted(graph).toarray()
        best = max(_density(weights, [r for r in range(5) if rmask >> r & 1],
                            [c for c in range(5) if cmask >> c & 1])
                   for rmask, cmask in itertools.product(range(32), range(32)))
        block = densest_block(sparse.csr_matrix(weights))
        assert np.isclose(block.density, _density(weights, block.engagers, block.engaged))
        assert best / 2 - 1e-12 <= block.density <= best + 1e-12


def test_a_planted_block_is_found_whatever_camouflage_its_engagers_add():
    rng = np.random.default_rng(1)
    m = n = 400
    # honest engagement: each engager engages a few accounts, popular ones far more often
    popularity = rng.pareto(1.2, n) + 1
    honest = [(i, j) for i in range(m)
              for j in rng.choice(n, rng.integers(1, 8), p=popularity / popularity.sum())]
    fraud_rows, fraud_cols = np.arange(380, 400), np.arange(0, 20)  # quiet accounts
    planted = [(i, j) for i in fraud_rows for j in fraud_cols if rng.random() < 0.6]
    popular = np.argsort(-popularity)[:30]
    camouflage = [(i, j) for i in fraud_rows for j in rng.choice(popular, 15)]
    r, c = zip(*honest, *planted, *camouflage, strict=True)
    graph = sparse.csr_matrix((np.ones(len(r)), (r, c)), shape=(m, n))
    first = dense_blocks(graph, 2)[0]
    assert set(first.engagers) == set(fraud_rows)  # every fraudster, and no honest engager
    assert set(fraud_cols) <= set(first.engaged)  # every account they boost
    # besides, only popular accounts their camouflage engaged: edges of the fraudsters too
    assert set(first.engaged) - set(fraud_cols) <= set(popular)


def test_each_block_after_the_first_is_found_without_the_edges_before_it():
    blocks = np.zeros((12, 12))
    blocks[:4, :4] = 1  # a dense block
    blocks[6:9, 6:9] = 1  # and a smaller one
    found = dense_blocks(sparse.csr_matrix(blocks), 3)
    assert [sorted(b.engagers) for b in found[:2]] == [[0, 1, 2, 3], [6, 7, 8]]
    assert [sorted(b.engaged) for b in found[:2]] == [[0, 1, 2, 3], [6, 7, 8]]
    assert len(found) == 2  # nothing is left after both
