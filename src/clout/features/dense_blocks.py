"""Camouflage-resistant dense blocks in the engager-by-engaged graph (FRAUDAR: Hooi, Song,
Beutel, Shah, Shin, Faloutsos, "FRAUDAR: Bounding Graph Fraud in the Face of Camouflage",
KDD 2016).

Accounts that buy or trade engagement form a block of engagers and engaged accounts far denser
than honest engagement between accounts of their size. The block's density is
`g(S) = f(S) / |S|`, `f(S)` the summed weight of the edges inside the set `S` of engagers and
engaged accounts; each edge into an engaged account weighs `1 / log(d + 5)`, `d` the account's
number of engagers, so that engaging popular accounts (camouflage, or honest popularity) adds
little while a block among accounts that few engage stands out. Greedy peeling (remove the node
whose edges inside the set weigh least, keep the densest set seen) finds a block of at least half
the densest one's `g` whatever camouflage the engagers add (the paper's bound), in
O(edges x log(nodes)). `dense_blocks` peels one block, removes its edges, and peels again.

No maintained library implements it (the authors' code is a research script), so it is written
here with SciPy sparse matrices and tested against a brute-force search on small graphs.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np
from scipy import sparse

#: d + COLUMN_SMOOTHING inside the log of an engaged account's edge weight (the paper's 5)
COLUMN_SMOOTHING = 5.0


@dataclass(frozen=True)
class Block:
    """A dense block: its engagers (row indices), its engaged accounts (column indices) and its
    density g (weighted edges inside per node)."""

    engagers: np.ndarray
    engaged: np.ndarray
    density: float


def column_weighted(graph: sparse.spmatrix) -> sparse.csr_matrix:
    """`graph` (engagers x engaged, 0/1 or counts; any weight > 0 is one edge) with each edge
    weighted 1 / log(d + 5), d its engaged account's number of engagers."""
    edges = (sparse.csr_matrix(graph) > 0).astype(np.float64)
    degree = np.asarray(edges.sum(axis=0)).ravel()
    return sparse.csr_matrix(edges @ sparse.diags(1.0 / np.log(degree + COLUMN_SMOOTHING)))


def densest_block(weights: sparse.spmatrix) -> Block:
    """Greedy peeling of a weighted bipartite graph (rows x columns): the densest set of rows
    and columns met while removing, one at a time, the node whose edges inside weigh least."""
    rows = sparse.csr_matrix(weights)
    cols = rows.tocsc()
    m, n = rows.shape
    degree = np.concatenate([np.asarray(rows.sum(axis=1)).ravel(),
                             np.asarray(rows.sum(axis=0)).ravel()])
    alive = np.ones(m + n, dtype=bool)
    heap = [(d, node) for node, d in enumerate(degree)]
    heapq.heapify(heap)
    mass, size = float(degree[:m].sum()), m + n
    best, best_at, removed = mass / size, 0, []
    while heap and size > 1:
        d, node = heapq.heappop(heap)
        if not alive[node] or d != degree[node]:  # removed, or an outdated entry
            continue
        alive[node] = False
        removed.append(node)
        mass -= degree[node]
        size -= 1
        if node < m:  # an engager: its engaged accounts lose its edges
            lo, hi = rows.indptr[node], rows.indptr[node + 1]
            others, weight = rows.indices[lo:hi] + m, rows.data[lo:hi]
        else:
            lo, hi = cols.indptr[node - m], cols.indptr[node - m + 1]
            others, weight = cols.indices[lo:hi], cols.data[lo:hi]
        for other, w in zip(others, weight, strict=True):
            if alive[other]:
                degree[other] -= w
                heapq.heappush(heap, (degree[other], other))
        if mass / size > best:
            best, best_at = mass / size, len(removed)
    inside = np.ones(m + n, dtype=bool)
    inside[removed[:best_at]] = False
    members = np.flatnonzero(inside)
    return Block(members[members < m], members[members >= m] - m, float(best))


def dense_blocks(graph: sparse.spmatrix, blocks: int) -> list[Block]:
    """Up to `blocks` dense blocks of `graph` (engagers x engaged), densest first: each found
    on the column-weighted graph with the edges of the blocks before it removed."""
    weights = column_weighted(graph).tolil()
    found = []
    for _ in range(blocks):
        if weights.nnz == 0:
            break
        block = densest_block(weights)
        found.append(block)
        for row in block.engagers:  # its edges are explained: the next block is another
            keep = ~np.isin(weights.rows[row], block.engaged)
            weights.rows[row] = list(np.asarray(weights.rows[row])[keep])
            weights.data[row] = list(np.asarray(weights.data[row])[keep])
    return found

