"""Strict parsers of the PIM simulators' trace formats, as the simulators read them."""
