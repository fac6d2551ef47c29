"""Shared fixtures: the small valid content under tests/fixtures/content."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def content_copy(tmp_path: Path) -> Path:
    """A writable copy of the small valid fixture content, as `<tmp>/content`."""
    dest = tmp_path / "content"
    shutil.copytree(FIXTURES / "content", dest)
    return dest
