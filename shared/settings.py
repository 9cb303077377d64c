"""Settings common to every service, read from the environment.

Each service has its own env prefix (``SPOTCHECK_REGISTRY_``, ``SPOTCHECK_GATEWAY_`` ...) for
its own values; values every process shares (``NATS_URL``, ``SPOTCHECK_MODE`` ...) are read
without a service prefix.
"""
from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEMO_PASSWORD = "spotcheck-demo"
DEMO_SECRETS = {DEMO_PASSWORD, "demo-credit-secret", "demo-webhook-secret"}


def var_dir() -> Path:
    """Where SQLite files, keys and the NATS store live (``SPOTCHECK_VAR_DIR``, default ./var)."""
    path = Path(os.environ.get("SPOTCHECK_VAR_DIR", "var")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


class CommonSettings(BaseSettings):
    """Values shared by all processes."""

    model_config = SettingsConfigDict(env_prefix="SPOTCHECK_", extra="ignore")

    mode: str = Field("demo", description="demo | production")
    nats_url: str = Field("nats://127.0.0.1:4222", validation_alias="NATS_URL")
    events_prefix: str = Field("spotcheck", description="subject prefix and stream name root")
    events_max_age_seconds: float = Field(0, ge=0, description="JetStream stream max_age (0 = kept; tests use a short one)")
    jwt_issuer: str = "spotcheck-gateway"
    jwt_audience: str = "spotcheck"
    jwks_url: str | None = None
    jwks_file: str | None = None
    log_level: str = "INFO"

    @property
    def production(self) -> bool:
        return self.mode == "production"


class ServiceSettings(CommonSettings):
    """Per-service settings; subclasses set ``service_name`` and the env prefix."""

    service_name: str = "service"
    database_url: str | None = None
    relay_interval_seconds: float = 0.5
    max_body_bytes: int = 2_000_000
    max_upload_bytes: int = 250_000_000  # streamed uploads (POST …/upload), checked again by the endpoint

    def production_missing(self) -> list[str]:
        """Settings production mode requires; a service that signs instead of verifying overrides it."""
        missing = [] if self.database_url else ["database_url"]
        if not (self.jwks_url or self.jwks_file):
            missing.append("jwks_url")
        return missing

    @model_validator(mode="after")
    def _check_production(self):
        if self.mode == "production":
            missing = self.production_missing()
            if missing:
                raise ValueError(f"生产模式缺少必需配置: {', '.join(missing)}")
        return self

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{var_dir() / (self.service_name + '.db')}"

    def resolved_jwks_file(self) -> str | None:
        if self.jwks_url:
            return None
        return self.jwks_file or str(var_dir() / "keys" / "jwks.json")


def settings_for(service: str, base: type[ServiceSettings] = ServiceSettings, **overrides) -> ServiceSettings:
    """Build settings for ``service`` reading ``SPOTCHECK_<SERVICE>_*`` first."""
    prefix = f"SPOTCHECK_{service.upper()}_"
    cls = type(
        f"{service.title()}Settings",
        (base,),
        {"model_config": SettingsConfigDict(env_prefix=prefix, extra="ignore")},
    )
    values = {"service_name": service}
    common = CommonSettings()
    for name in CommonSettings.model_fields:
        if f"{prefix}{name.upper()}" not in os.environ:
            values[name] = getattr(common, name)
    values.update(overrides)
    return cls(**values)
