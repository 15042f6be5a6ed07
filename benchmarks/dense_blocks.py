"""Would dense-block detection (FRAUDAR) catch the attacks that stay under the published
thresholds? A candidate defence measured before it is built into the score (issue: an attacker
who has read the docs).

    python benchmarks/dense_blocks.py                                # seeds 8, 9, 4242
    python benchmarks/dense_blocks.py --seeds 8 9 4242 --doc docs/dense_blocks.md

Per world: the attacks of the library that beat the defences today are injected, one at a
time, into the 28 days before the day after the data end, aimed at 20 genuine accounts (low:
posting accounts between the 10th and 40th percentile of engagement received in 90 days, so
that no model is needed: the detector reads the graph only; few: accounts that posted once or
twice in the 28 days). The engager-by-engaged graph of the 90 days before that day is peeled
into `--blocks` blocks (`clout.features.dense_blocks`), densest first. The attack's edges are
its engagement of the targets (its camouflage is honest-looking engagement of others); an
attack's block is one whose engagers are mostly the attack's. The table says where it ranks, how
dense it is, how much of the attack it holds (an attack can also be swallowed by a larger honest
block that its edges make denser: then its pairs are in a block, but not in its own), and how
many honest blocks are denser: a density threshold that caught the attack would flag those
honest blocks first. The clean world's row
gives the honest blocks alone. Seed 7 was used to write the detector (the tuning world); it is
not measured here. What is built into the score (`features.credibility.groups`) peels another
graph, the new pairs on small accounts, and judges a block by its engagement against chance.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from clout import tracking  # first: importing clout pins NumPy's kernels before NumPy loads
from clout.config import load_experiment
from clout.data.attacks import inject
from clout.data.validation import validate
from clout.features.build import load_tables
from clout.features.days import to_day
from clout.features.dense_blocks import dense_blocks
from clout.features.families import discount_partials, window_pairs
from clout.gaming import attack_date, few_posts_accounts, genuine_accounts
from clout.prepare import load_source
from clout.quality import markdown_table

#: the attacks that buy points today (docs/gaming.md), by size and aim
ATTACKS = [("pod_turns", 10, "low"), ("pod", 10, "few"), ("pod_turns", 10, "few"),
           ("aged", 1, "low"), ("aged", 15, "low"), ("lent", 15, "low"), ("spread", 50, "low")]
ATTACK_SHARE = 0.5  # a block whose engagers are more than half the attack's is the attack's


def engagement_matrix(tables, config, cutoff: int):
    """Engagers x engaged accounts (dense indices), one edge per pair that engaged in the
    longest window before `cutoff` (a day number)."""
    import numpy as np
    import polars as pl
    from scipy import sparse

    n = len(tables.ids)
    window = max(config.windows)
    pairs = window_pairs(discount_partials(tables, config, cutoff), cutoff, config.windows)
    key = pairs.filter(pl.col(f"n@{window}") > 0)["pair"].to_numpy()
    return sparse.csr_matrix((np.ones(len(key)), (key % n, key // n)), shape=(n, n))


def low_engagement_accounts(dataset, genuine, end, n: int = 20, seed: int = 0):
    """Genuine accounts that posted in the 28 days before `end`, between the 10th and 40th
    percentile of the engagement they received in the 90 days before it."""
    import numpy as np
    import pandas as pd

    events = dataset.engagements
    received = events[events["created_at"].between(end - pd.Timedelta(days=90), end,
                                                   inclusive="left")]
    received = received.groupby("account_id").size()
    posts = dataset.posts
    posted = posts.loc[posts["created_at"].between(end - pd.Timedelta(days=28), end,
                                                   inclusive="left"), "account_id"].unique()
    counts = received.reindex(np.intersect1d(posted, genuine)).fillna(0)
    low, high = counts.quantile([0.1, 0.4])
    pool = counts.index[counts.between(low, high)].to_numpy()
    return np.sort(np.random.default_rng(seed).choice(pool, min(n, len(pool)), replace=False))


def peel(dataset, config, end, attack_edges, blocks: int) -> dict:
    """The blocks of `dataset`'s graph at `end` and where the attack's edges (ids pairs)
    fall."""
    import numpy as np

    tables = load_tables(validate(dataset, as_of=end)[0])
    graph = engagement_matrix(tables, config, to_day(end)).tocoo()
    n, ids = len(tables.ids), tables.ids.to_numpy()
    index = {account: i for i, account in enumerate(ids)}
    attack = {index[a] * n + index[b] for a, b in attack_edges}
    attackers = [index[a] for a, _ in attack_edges]
    key = graph.row.astype(np.int64) * n + graph.col
    is_attack = np.isin(key, list(attack))
    found = dense_blocks(graph, blocks)
    shares, inside_any, in_a_block = [], np.zeros(len(key), dtype=bool), np.zeros(len(key),
                                                                                 dtype=bool)
    for block in found:
        inside = np.isin(graph.row, block.engagers) & np.isin(graph.col, block.engaged)
        in_a_block |= inside
        shares.append((block, inside, np.isin(block.engagers, attackers).mean()))
    attack_blocks = [i for i, (_, _, share) in enumerate(shares) if share > ATTACK_SHARE]
    honest_edges = (~is_attack).sum()
    row = {"blocks (densest first)": " ".join(
        f"{b.density:.2f}" + ("*" if i in attack_blocks else "")
        for i, (b, _, _) in enumerate(shares))}
    if not attack:
        return row
    row["attack edges in any block"] = f"{(in_a_block & is_attack).sum() / is_attack.sum():.0%}"
    if not attack_blocks:
        return row | {"attack block": "none found"}
    first = attack_blocks[0]
    for i in attack_blocks:
        inside_any |= shares[i][1]
    flagged = np.zeros(len(key), dtype=bool)  # honest blocks denser than the first attack's
    for _, inside, _ in shares[:first]:
        flagged |= inside
    return row | {
        "attack block": f"#{first + 1}, {len(found[first].engagers)} x "
                        f"{len(found[first].engaged)}",
        "its density": f"{found[first].density:.2f}",
        "attack edges in attack blocks": f"{(inside_any & is_attack).sum() / is_attack.sum():.0%}",
        "honest blocks denser": f"{first}",
        "honest edges in them": f"{(flagged & ~is_attack).sum() / honest_edges:.1%}"}


def main() -> None:
    import pandas as pd  # after clout (see the imports)

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", type=Path, default=Path("experiments/default.yaml"))
    parser.add_argument("--seeds", type=int, nargs="*", default=[8, 9, 4242])
    parser.add_argument("--blocks", type=int, default=15, help="blocks peeled per world")
    parser.add_argument("--doc", type=Path, help="write the table to this markdown file")
    args = parser.parse_args()
    start = time.perf_counter()
    rows = []
    for seed in args.seeds:
        experiment = load_experiment(args.experiment, **{"data.seed": seed})
        source = load_source(experiment.data)
        dataset, config = source.dataset, experiment.features
        end = attack_date(dataset)
        genuine = genuine_accounts(source.truth)
        aimed = {"low": low_engagement_accounts(dataset, genuine, end),
                 "few": few_posts_accounts(dataset, genuine, end, 28)}
        rows.append({"world": f"seed {seed}", "attack": "none (clean)",
                     **peel(dataset, config, end, set(), args.blocks)})
        for attack, size, aim in ATTACKS:
            injection = inject(dataset, attack, aimed[aim], size, end, 28, seed)
            added = injection.attacked.engagements.iloc[len(dataset.engagements):]
            bought = added[added["account_id"].isin(injection.targets)]  # not the camouflage
            edges = set(zip(bought["actor_id"], bought["account_id"], strict=True))
            rows.append({"world": f"seed {seed}", "attack": f"{attack} x {size} ({aim})",
                         **peel(injection.attacked, config, end, edges, args.blocks)})
            print(rows[-1], flush=True)
    table = pd.DataFrame(rows).fillna("")
    command = " ".join(["python benchmarks/dense_blocks.py", "--experiment",
                        str(args.experiment), "--seeds", *map(str, args.seeds), "--blocks",
                        str(args.blocks)])
    text = (f"Measured {pd.Timestamp.now(tz='UTC').date()} at commit "
            f"`{tracking.git_commit()[:12]}` by `{command}` "
            f"({time.perf_counter() - start:.0f} s). Blocks' densities densest first (`*`: "
            "the attack's, more than half its engagers); the share of the attack's engagement "
            "pairs (engager, target) in any block; an attack block's rank and size (engagers x "
            "engaged), the share of the attack's pairs in attack blocks, and the honest blocks "
            "denser than it with their share of honest pairs:\n\n"
            + "\n".join(markdown_table(table)) + "\n")
    print(text)
    if args.doc:
        args.doc.write_text("# Dense blocks (FRAUDAR) against the attacks that buy points\n\n"
                            + text)


if __name__ == "__main__":
    main()
