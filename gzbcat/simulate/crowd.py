"""The crowd of a simulated project: who classifies each subject, and when.

A pool of volunteers with made-up user names, a few of whom do most of the work; each subject
is launched within three days of the project's start and classified at exponential intervals
(6 h on average) by distinct volunteers, a few of them not logged in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

__all__ = ["Crowd", "SubjectSchedule"]

_ADJECTIVES = ("Stellar", "Cosmic", "Spiral", "Lunar", "Dusty", "Bright", "Quiet", "Red")
_NOUNS = ("Gazer", "Comet", "Nebula", "Quasar", "Pulsar", "Owl", "Fox", "Sailor")


@dataclass(frozen=True)
class SubjectSchedule:
    """When one subject was launched and classified, and by whom.

    Attributes
    ----------
    launched
        When the subject went live.
    moments
        When each classification was made, in order.
    chosen
        Per classification, the index of its volunteer in :attr:`Crowd.users`.
    retired_at
        Two seconds after the last classification (``launched`` when there is none).
    """

    launched: datetime
    moments: tuple[datetime, ...]
    chosen: tuple[int, ...]
    retired_at: datetime


@dataclass(frozen=True, eq=False)
class Crowd:
    """The volunteers of a simulated project and the day it started.

    Attributes
    ----------
    start
        The project's start, within March 2019.
    users
        (user_name, user_id) of each volunteer, ids unique and ascending.
    weights
        Probability that a classification is by each volunteer (∝ rank^-0.8, summing to 1).
    """

    start: datetime
    users: list[tuple[str, str]]
    weights: np.ndarray

    @classmethod
    def draw(cls, rng: np.random.Generator, volunteers: int) -> Crowd:
        """A pool of ``max(2 × volunteers, 50)`` volunteers, so that each subject's are distinct."""
        start = datetime(2019, 3, 1, tzinfo=UTC) + timedelta(
            seconds=int(rng.integers(0, 30 * 86400))
        )
        users = _users(rng, max(2 * volunteers, 50))
        weights = 1.0 / np.arange(1, len(users) + 1) ** 0.8  # a few volunteers do most of the work
        weights /= weights.sum()
        return cls(start, users, weights)

    def schedule(self, rng: np.random.Generator, volunteers: int) -> SubjectSchedule:
        """When a subject is launched and classified, and by which ``volunteers`` volunteers."""
        launched = self.start + timedelta(seconds=int(rng.integers(0, 3 * 86400)))
        gaps = rng.exponential(6 * 3600.0, volunteers)
        moments = [launched + timedelta(seconds=int(t)) for t in np.cumsum(gaps).tolist()]
        chosen = rng.choice(len(self.users), size=volunteers, replace=False, p=self.weights)
        retired_at = moments[-1] + timedelta(seconds=2) if moments else launched
        return SubjectSchedule(launched, tuple(moments), tuple(int(c) for c in chosen), retired_at)

    def user(self, rng: np.random.Generator, chosen: int) -> tuple[str, str]:
        """(user_name, user_id) of one classification by volunteer ``chosen``: 8 % of
        classifications are made without logging in (no user id, a session-hash name)."""
        user_name, user_id = self.users[chosen]
        if rng.random() < 0.08:
            user_name = "not-logged-in-" + "".join(
                f"{int(b):02x}" for b in rng.integers(0, 256, 10)
            )
            user_id = ""
        return user_name, user_id


def _users(rng: np.random.Generator, count: int) -> list[tuple[str, str]]:
    """A pool of (user_name, user_id) volunteers, ids unique and ascending."""
    ids = 100_000 + np.sort(rng.choice(2_000_000, size=count, replace=False))
    users = []
    for user_id in ids.tolist():
        word = _ADJECTIVES[int(rng.integers(len(_ADJECTIVES)))]
        noun = _NOUNS[int(rng.integers(len(_NOUNS)))]
        users.append((f"{word}{noun}{user_id % 1000}", str(user_id)))
    return users
