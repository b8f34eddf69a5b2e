"""Drivers, CLI, frontends and the xDSL universe registration."""
