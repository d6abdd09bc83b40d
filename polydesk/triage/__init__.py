"""Triage: language id, the multilingual encoder, intent and sentiment heads, routing."""
