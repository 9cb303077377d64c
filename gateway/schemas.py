"""Request bodies of the gateway's own endpoints (unknown fields refused)."""
from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from shared.schemas import StrictModel

Username = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{3,64}$")]
RegionCode = Annotated[str, StringConstraints(pattern=r"^\d{6}$")]
ClientId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{3,64}$")]


class UserCreate(StrictModel):
    username: Username = Field(description="登录名（字母、数字、_ . -，3-64 位）")
    display_name: str = Field(min_length=1, max_length=100, description="姓名/显示名")
    roles: list[str] = Field(min_length=1, max_length=5, description="角色")
    region_code: RegionCode = Field(description="所属行政区划代码")
    organisation: str | None = Field(None, max_length=200, description="单位")
    uscc: str | None = Field(None, max_length=18, description="统一社会信用代码（企业账号）")
    person_id: str | None = Field(None, max_length=64, description="执法检查人员名录库中的编号")
    password: str | None = Field(None, max_length=128, description="初始密码；不填则由系统生成并仅返回一次")


class UserPatch(StrictModel):
    display_name: str | None = Field(None, min_length=1, max_length=100)
    roles: list[str] | None = Field(None, min_length=1, max_length=5)
    region_code: RegionCode | None = None
    organisation: str | None = Field(None, max_length=200)
    uscc: str | None = Field(None, max_length=18)
    person_id: str | None = Field(None, max_length=64)


class PasswordReset(StrictModel):
    password: str | None = Field(None, max_length=128, description="新密码；不填则由系统生成并仅返回一次")


class ClientCreate(StrictModel):
    client_id: ClientId = Field(description="客户端编号")
    name: str = Field(min_length=1, max_length=100, description="系统名称")
    role: str = Field(description="gov_client 或 credit_system")
    region_code: RegionCode = Field("140000", description="所属行政区划代码")


# ---------------------------------------------------------------- response bodies (documentation)
import datetime as _dt  # noqa: E402

from pydantic import BaseModel as _BaseModel, ConfigDict as _ConfigDict  # noqa: E402


class UserOut(_BaseModel):
    id: str
    username: str
    display_name: str
    roles: list[str]
    region_code: str
    level: str
    organisation: str | None = None
    uscc: str | None = None
    person_id: str | None = None
    active: bool
    version: int
    created_at: _dt.datetime
    updated_at: _dt.datetime
    initial_password: str | None = Field(default=None, description="系统生成的初始密码，仅在创建时返回一次")
    new_password: str | None = Field(default=None, description="系统生成的新密码，仅在重置时返回一次")


class ClientOut(_BaseModel):
    client_id: str
    name: str
    role: str
    region_code: str
    level: str
    active: bool
    version: int
    created_at: _dt.datetime
    updated_at: _dt.datetime
    client_secret: str | None = Field(default=None, description="客户端密钥，仅在登记或更换时返回一次")


class TokenOut(_BaseModel):
    access_token: str
    token_type: str = Field(description="Bearer")
    expires_in: int = Field(description="有效秒数")
    refresh_token: str | None = Field(default=None, description="刷新令牌（password 与 refresh_token 授权）")


class MeOut(_BaseModel):
    sub: str
    roles: list[str]
    role_names: list[str]
    region: str | None = None
    level: str | None = None
    name: str | None = None
    uscc: str | None = None
    person_id: str | None = None
    expires_at: int | None = None
    organisation: str | None = None
    user_id: str | None = None


class WebSessionOut(_BaseModel):
    access_token: str
    token_type: str = Field(description="Bearer")
    expires_in: int = Field(description="有效秒数（刷新令牌不在应答体中：写入 HttpOnly Cookie）")


class JwkOut(_BaseModel):
    kty: str
    kid: str
    model_config = _ConfigDict(extra="allow")


class JwksOut(_BaseModel):
    keys: list[JwkOut]


class RevokeOut(_BaseModel):
    """The same answer whether or not the token was known (RFC 7009 §2.2)."""

    result: str = Field("processed", description="总是 processed：不透露令牌是否存在或已吊销")
