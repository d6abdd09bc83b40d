"""Model manifests, the intent taxonomy and its training examples (package data)."""
