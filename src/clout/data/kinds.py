"""Engagement kinds: the one registry of what people can do to an account or its posts.

A kind is registered once, here, with everything the stages need of it: its name in the
engagements table (`retweet`), its plural in column and head names (`retweets`), whether the
posts table has a counter of it (sources that know only counts per post), and how often a
simulated reader does it. The contract, the loaders' checks, the feature catalogue and builder,
the heads and the simulator all read this registry when they run, so a new kind is one
`register` call:

    from clout.data.kinds import EngagementKind, register
    register(EngagementKind("share", "shares", meaning="Shared the post by private message."))

Order matters and is kept: it is the order of the kinds' columns, of the heads and of the
categories events are sorted by (so the default kinds come first, always in the same order).
A kind with a posts counter adds a column to the contract's posts table, which is laid out when
`clout.data.schema` is first imported: register such a kind here, with the others. Dask
workers run their own processes: a kind registered at run time exists only where it was
registered.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class EngagementKind:
    """One kind of engagement.

    `counter`: the posts table has a column named `plural` with this kind's count per post
    (as observed at `counts_observed_at`), described by `counter_meaning`.
    `simulated_rate`: the simulator's base chance that a reached reader does it to a post of
    average quality (None: the simulator does not produce it)."""

    name: str
    plural: str
    meaning: str = ""
    counter: bool = False
    counter_meaning: str = ""
    simulated_rate: float | None = None


class KindRegistry(Sequence[str]):
    """The registered kinds by name, in registration order; reads as a sequence of names
    (`"like" in KINDS`, `for name in KINDS`), so it can stand wherever a tuple of kinds did."""

    def __init__(self) -> None:
        self._kinds: dict[str, EngagementKind] = {}

    def register(self, kind: EngagementKind) -> EngagementKind:
        taken = {n for k in self._kinds.values() for n in (k.name, k.plural)}
        if clash := {kind.name, kind.plural} & taken:
            raise ValueError(f"engagement kind {kind.name!r}: {', '.join(sorted(clash))} "
                             "already registered")
        if kind.name == kind.plural:
            raise ValueError(f"engagement kind {kind.name!r}: its plural must differ "
                             "(column names use the plural)")
        self._kinds[kind.name] = kind
        return kind

    def unregister(self, name: str) -> None:
        del self._kinds[name]

    def __getitem__(self, index):  # a position or a slice, as a tuple would
        return tuple(self._kinds)[index]

    def __len__(self) -> int:
        return len(self._kinds)

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(self._kinds))

    def __contains__(self, name) -> bool:
        return name in self._kinds

    def kind(self, name: str) -> EngagementKind:
        return self._kinds[name]

    def plural(self, name: str) -> str:
        """"retweet" -> "retweets"."""
        return self._kinds[name].plural

    def plurals(self) -> tuple[str, ...]:
        return tuple(k.plural for k in self._kinds.values())

    def counters(self) -> dict[str, str]:
        """The posts table's counter columns, column (plural) -> kind."""
        return {k.plural: k.name for k in self._kinds.values() if k.counter}

    def simulated_rates(self) -> dict[str, float]:
        """The kinds the simulator produces, with their base rates."""
        return {k.name: k.simulated_rate for k in self._kinds.values()
                if k.simulated_rate is not None}


KINDS = KindRegistry()
register = KINDS.register


@contextmanager
def registered(kind: EngagementKind):
    """`kind` registered for the duration of the block (tests and notebooks)."""
    register(kind)
    try:
        yield kind
    finally:
        KINDS.unregister(kind.name)


register(EngagementKind("click", "clicks", "Clicked the post's link.", counter=True,
                        counter_meaning="Clicks on the post's link, at `counts_observed_at`.",
                        simulated_rate=0.05))
register(EngagementKind("retweet", "retweets", "Re-shared the post to their own followers.",
                        counter=True,
                        counter_meaning="Retweets received, at `counts_observed_at`.",
                        simulated_rate=0.012))
register(EngagementKind("reply", "replies", "Replied to the post.", counter=True,
                        counter_meaning="Replies received, at `counts_observed_at`.",
                        simulated_rate=0.0025))
register(EngagementKind("like", "likes", "Liked the post.", counter=True,
                        counter_meaning="Likes received, at `counts_observed_at`.",
                        simulated_rate=0.03))
register(EngagementKind("mention", "mentions", "Named the account in a post of their own."))
register(EngagementKind("quote", "quotes", "Re-shared the post with a comment of their own."))
