"""Production mode refuses to start without a real database and a place to read token keys."""
from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.settings import settings_for


def test_production_requires_database_and_jwks(monkeypatch):
    monkeypatch.setenv("SPOTCHECK_MODE", "production")
    with pytest.raises(ValidationError, match="database_url.*jwks_url"):
        settings_for("registry")
    ok = settings_for("registry", database_url="postgresql://db/registry", jwks_url="http://gw/.well-known/jwks.json")
    assert ok.production and ok.resolved_jwks_file() is None


def test_demo_defaults_to_sqlite_under_var(monkeypatch, tmp_path):
    monkeypatch.setenv("SPOTCHECK_VAR_DIR", str(tmp_path))
    monkeypatch.delenv("SPOTCHECK_MODE", raising=False)
    s = settings_for("sampling")
    assert s.resolved_database_url() == f"sqlite+aiosqlite:///{tmp_path / 'sampling.db'}"
