"""Routing: who handles a triaged ticket — the machine (auto), an agent or a specialist — and why.

The rules come from a policy file (``models/policy.json``, or the operator's
``$POLYDESK_HOME/policy.json``) and the intent taxonomy (``models/taxonomy.json``: tier,
sensitive, auto-resolvable). The reason is a sentence a person reads in the queue.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from .. import config
from ..errors import InvalidValueError
from . import registry
from .heads import OUT_OF_SCOPE, Prediction


@dataclass(frozen=True)
class Route:
    route: str  # auto | agent | specialist
    reason: str
    priority: str  # low | normal | high | urgent


@cache
def taxonomy() -> dict[str, dict[str, Any]]:
    data = json.loads((registry.shipped_dir() / "taxonomy.json").read_text("utf-8"))
    return {intent["name"]: intent for intent in data["intents"]}


def load_policy(path: Path | None = None) -> dict[str, Any]:
    """The policy in force: an explicit file, else the operator's, else the shipped one."""
    candidates = [path] if path else [config.data_dir() / "policy.json"]
    candidates.append(registry.shipped_dir() / "policy.json")
    for candidate in candidates:
        if candidate and candidate.exists():
            try:
                return dict(json.loads(candidate.read_text("utf-8")))
            except json.JSONDecodeError as exc:
                raise InvalidValueError(str(candidate), f"not valid JSON: {exc}") from None
    raise InvalidValueError("policy", "no policy file found")


def decide(
    intent: Prediction,
    sentiment: Prediction | None,
    language: str,
    language_confidence: float,
    policy: dict[str, Any],
    *,
    contacts: int = 1,
    thresholds: Mapping[str, float] | None = None,
) -> Route:
    """Apply the rules in order; the first that sends the ticket to a person gives the reason."""
    info = taxonomy().get(intent.label, {"tier": 2, "auto": False, "sensitive": False})
    priority = _priority(intent, sentiment, policy, contacts)
    if info.get("handler") == "specialist":
        return Route("specialist", f"sensitive: {intent.label.replace('_', ' ')}", priority)
    if info.get("sensitive"):
        return Route("agent", f"sensitive: {intent.label.replace('_', ' ')}", priority)
    if intent.label == OUT_OF_SCOPE:
        return Route("agent", "not about our service (out of scope)", priority)
    mood = _strong_sentiment(sentiment, policy)
    if mood:
        return Route("agent", f"customer is {mood}", priority)
    if contacts > 1 and policy.get("repeat_contact_to_agent", True):
        return Route("agent", f"repeat contact ({contacts} contacts)", priority)
    if not info.get("auto"):
        return Route("agent", f"needs a person: {intent.label.replace('_', ' ')}", priority)
    return _confidence_route(
        intent, language, language_confidence, policy["auto"], priority, thresholds or {}
    )


def _confidence_route(
    intent: Prediction,
    language: str,
    language_confidence: float,
    rules: dict[str, Any],
    priority: str,
    thresholds: Mapping[str, float],
) -> Route:
    needed = needed_confidence(language, rules, thresholds)
    if language_confidence < rules["min_language_confidence"]:
        return Route("agent", f"language unclear ({language} {language_confidence:.2f})", priority)
    if intent.confidence < needed:
        return Route(
            "agent",
            f"unsure of intent ({intent.confidence:.2f} < {needed:.2f} for {language})",
            priority,
        )
    if intent.margin < rules["min_margin"]:
        second = intent.alternatives[1][0] if len(intent.alternatives) > 1 else "?"
        return Route("agent", f"close call: {intent.label} or {second}", priority)
    return Route(
        "auto", f"routine {intent.label.replace('_', ' ')} ({intent.confidence:.2f})", priority
    )


def needed_confidence(
    language: str, rules: dict[str, Any], thresholds: Mapping[str, float]
) -> float:
    """Intent confidence an automatic answer in ``language`` needs.

    The policy's per-language value wins; else the head's calibrated threshold for the language
    (never below the policy's ``min_confidence``); else ``min_confidence``.
    """
    overrides = rules.get("language_min_confidence", {})
    if language in overrides:
        return float(overrides[language])
    floor = float(rules["min_confidence"])
    return max(floor, float(thresholds.get(language, floor)))


def _strong_sentiment(sentiment: Prediction | None, policy: dict[str, Any]) -> str | None:
    if sentiment is None or sentiment.label not in policy.get("escalate_sentiments", []):
        return None
    return sentiment.label if sentiment.confidence >= policy["min_sentiment_confidence"] else None


def _priority(
    intent: Prediction, sentiment: Prediction | None, policy: dict[str, Any], contacts: int
) -> str:
    rules = policy["priority"]
    mood = sentiment.label if sentiment else None
    if mood in rules["urgent_sentiments"] or intent.label in rules["urgent_intents"]:
        return "urgent"
    if mood in rules["high_sentiments"] or contacts > 1:
        return "high"
    if intent.label in rules["low_intents"]:
        return "low"
    return "normal"
