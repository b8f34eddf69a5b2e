from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "gpt2-tiny-decode.onnx"
TEST_SYSTEM = REPO / "tests" / "filecheck" / "inputs" / "test-system.toml"


@pytest.fixture
def example() -> Path:
    return EXAMPLE


@pytest.fixture
def test_system() -> Path:
    return TEST_SYSTEM
