"""Which language pairs the available models cover: directly, through English, or not at all.

The answer is data the TUI and routing use (show a translation, or the intent gist and a
"no model" note; route to an agent who reads the language); nothing here invents a translation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..languages import CODES
from .packages import ModelPackage

PIVOT = "en"


@dataclass(frozen=True)
class Route:
    """How to get from ``source`` to ``target``: kind is same, direct, pivot or none."""

    source: str
    target: str
    kind: str
    hops: tuple[ModelPackage, ...] = ()

    @property
    def path(self) -> list[str]:
        return [hop.pair for hop in self.hops]

    @property
    def covered(self) -> bool:
        return self.kind != "none"

    def as_dict(self) -> dict[str, Any]:
        return {"from": self.source, "to": self.target, "coverage": self.kind, "path": self.path}


def plan(source: str, target: str, models: Mapping[str, ModelPackage]) -> Route:
    """The route a translation takes: one model, two through English, or none."""
    if source == target:
        return Route(source, target, "same")
    direct = models.get(f"{source}-{target}")
    if direct is not None:
        return Route(source, target, "direct", (direct,))
    first, second = models.get(f"{source}-{PIVOT}"), models.get(f"{PIVOT}-{target}")
    if first is not None and second is not None:
        return Route(source, target, "pivot", (first, second))
    return Route(source, target, "none")


def matrix(models: Mapping[str, ModelPackage]) -> list[Route]:
    """A route for every ordered pair of the 35 languages (35 x 34 rows)."""
    return [plan(s, t, models) for s in CODES for t in CODES if s != t]


def summary(routes: list[Route]) -> dict[str, int]:
    counts = {"direct": 0, "pivot": 0, "none": 0}
    for route in routes:
        counts[route.kind] += 1
    return counts
