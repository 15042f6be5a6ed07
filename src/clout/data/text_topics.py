"""Topics learned from post text, for sources whose posts carry text but no topic (Congress).

TF-IDF over words and hashtags (links, mentions and "RT" left out), factorised by NMF (scikit-
learn; deterministic NNDSVD start, no download): each topic is named by its top three terms
("climate actonclimate change"), so the same topic learned again at a later cutoff keeps its
name while its words stay on top. A post's topic is its largest NMF weight; a post none of the
vocabulary reaches has none. Fit on posts made before a cutoff only: a topic learned from later
text would let a cutoff read the future.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.decomposition import NMF
from sklearn.feature_extraction.text import TfidfVectorizer

from clout.data.loaders import TWITTER_TIME, _require

N_TOPICS = 20
LABEL_TERMS = 3
_NOISE = r"https?://\S+|@\w+|\bRT\b|&amp;"  # links, mentions, the retweet marker, escapes


@dataclass(frozen=True)
class TextTopics:
    """A fitted topic model: its vocabulary, its factors, each topic's label."""

    vectorizer: TfidfVectorizer
    factors: NMF
    labels: tuple[str, ...]

    @classmethod
    def fit(cls, texts: pd.Series, n_topics: int = N_TOPICS, seed: int = 0) -> TextTopics:
        vectorizer = TfidfVectorizer(stop_words="english", min_df=10, max_df=0.02,
                                     max_features=20_000, sublinear_tf=True,
                                     token_pattern=r"(?u)\b[a-z][a-z0-9]{2,}\b")
        words = vectorizer.fit_transform(_clean(texts))
        factors = NMF(n_components=n_topics, init="nndsvd", random_state=seed, max_iter=400)
        factors.fit(words)
        terms = vectorizer.get_feature_names_out()
        labels, seen = [], set()
        for weights in factors.components_:
            order = np.argsort(-weights, kind="stable")
            label = " ".join(terms[order[:LABEL_TERMS]])
            extra = LABEL_TERMS
            while label in seen:  # two topics with the same top terms: one more term each
                label = f"{label} {terms[order[extra]]}"
                extra += 1
            seen.add(label)
            labels.append(label)
        return cls(vectorizer, factors, tuple(labels))

    def terms(self, n: int = 10) -> pd.DataFrame:
        """Each topic's label and its `n` top terms, heaviest first."""
        names = self.vectorizer.get_feature_names_out()
        return pd.DataFrame({"topic": self.labels, "top_terms": [
            " ".join(names[np.argsort(-weights, kind="stable")[:n]])
            for weights in self.factors.components_]})

    def assign(self, texts: pd.Series) -> pd.Series:
        """Each text's topic label (None where no topic word occurs)."""
        weights = self.factors.transform(self.vectorizer.transform(_clean(texts)))
        best = np.asarray(self.labels, dtype=object)[weights.argmax(axis=1)]
        return pd.Series(np.where(weights.max(axis=1) > 0, best, None), index=texts.index,
                         dtype=object)


def _clean(texts: pd.Series) -> pd.Series:
    return (texts.fillna("").str.replace(_NOISE, " ", regex=True).str.replace("#", " ")
            .str.lower())


def congress_texts(path: str | Path) -> pd.DataFrame:
    """post_id, created_at and text of every Congress tweet (`text.parquet`)."""
    path = Path(path)
    _require(path, "text.parquet")
    text = pd.read_parquet(path / "text.parquet", columns=["tweet_id", "created_at", "text"])
    return pd.DataFrame({"post_id": text["tweet_id"], "text": text["text"],
                         "created_at": pd.to_datetime(text["created_at"], format=TWITTER_TIME,
                                                      utc=True)})


def post_topics(texts: pd.DataFrame, cutoff: pd.Timestamp, n_topics: int = N_TOPICS,
                seed: int = 0) -> tuple[pd.DataFrame, TextTopics]:
    """Topics fitted on the posts made before `cutoff`, assigned to every post (later posts
    by the same fitted model): post_id, topic."""
    model = TextTopics.fit(texts.loc[texts["created_at"] < cutoff, "text"], n_topics, seed)
    return pd.DataFrame({"post_id": texts["post_id"], "topic": model.assign(texts["text"])}
                        ), model


#: Sources whose posts carry text but no topic: where to read the text.
TEXTS: dict[str, Callable[[str | Path], pd.DataFrame]] = {"congress": congress_texts}
