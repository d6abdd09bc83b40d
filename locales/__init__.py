"""UI message catalogues and reply macros, one set per language (package data)."""
