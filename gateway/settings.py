"""Gateway settings (``SPOTCHECK_GATEWAY_*``) on top of the common service settings."""
from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from shared.settings import ServiceSettings, settings_for

MAX_ACCESS_TTL = 900


class GatewaySettings(ServiceSettings):
    private_key_file: str | None = Field(None, description="RS256 私钥 PEM 文件（生产模式必填）")
    access_ttl_seconds: int = Field(600, ge=30, le=MAX_ACCESS_TTL)
    refresh_ttl_seconds: int = Field(8 * 3600, ge=60, le=30 * 24 * 3600)
    upstream_connect_timeout: float = 3.0
    upstream_read_timeout: float = 30.0  # also: a caller's request body may pause this long, a streamed answer's reader too
    upstream_max_connections: int = 200  # per service replica; more waiting callers get 503 after the connect timeout
    openapi_cache_seconds: float = 30.0
    openapi_fetch_timeout: float = 3.0
    login_attempts_per_user: int = Field(5, ge=1, description="每个用户名在窗口内允许的失败登录次数")
    login_attempts_per_ip: int = Field(20, ge=1, description="每个客户端 IP 在窗口内允许的登录请求次数")
    login_window_seconds: float = 300.0
    serve_web: bool = Field(True, description="在 / 提供网页界面（web/dist）")
    web_dist: str | None = Field(None, description="网页界面构建目录，默认 web/dist")
    trusted_proxies: str = Field("", description="可信反向代理的地址或网段（逗号分隔）；仅信任其 X-Forwarded-For，默认不信任任何")

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, value: str) -> str:
        from .forwarded import parse_trusted

        parse_trusted(value)  # ValueError on a malformed address
        return value

    def production_missing(self) -> list[str]:
        # The gateway signs tokens itself: it needs a private key, not a JWKS to verify against.
        missing = [] if self.database_url else ["database_url"]
        if not self.private_key_file:
            missing.append("private_key_file")
        elif not Path(self.private_key_file).is_file():
            missing.append(f"private_key_file（文件不存在: {self.private_key_file}）")
        return missing


def gateway_settings(**overrides) -> GatewaySettings:
    return settings_for("gateway", GatewaySettings, **overrides)  # type: ignore[return-value]
