"""pimc: compile LLM inference graphs onto NPU + processing-in-memory systems."""

__version__ = "0.1.0"
