"""Shared test settings: offline hub, one FID statistics cache per session."""

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")   # a weights miss fails at once instead of hanging on the network


@pytest.fixture
def fid_cache(tmp_path_factory):
    """One FID statistics cache per test session, so the real-set statistics are computed once."""
    return str(tmp_path_factory.getbasetemp() / "fid-cache")
