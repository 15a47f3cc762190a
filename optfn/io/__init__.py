"""Serialization: one strict cattrs converter, error rendering, dicts, JSON, TOML and files."""
