"""The Textual front door (the agent screens arrive with the agent-TUI issue)."""
