"""``python -m polydesk`` runs the command-line interface."""

from polydesk.cli import main

main()
