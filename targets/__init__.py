"""System descriptions, device cost models and emitters."""
