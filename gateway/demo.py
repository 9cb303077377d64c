"""Demo accounts (demo mode only): one per role and level the walkthrough needs. Idempotent:
existing accounts are left as they are."""
from __future__ import annotations

from sqlalchemy import select

from shared.db import Database
from shared.settings import DEMO_PASSWORD

from .clients import insert_client
from .models import MachineClient, User
from .schemas import ClientCreate, UserCreate
from .users import insert_user

DEMO_CLIENT_SECRET = "demo-credit-secret"

DEMO_USERS = [
    UserCreate(username="demo_province", display_name="省局管理员（演示）", roles=["province_admin"], region_code="140000",
               organisation="山西省市场监督管理局"),
    UserCreate(username="demo_province2", display_name="省局第二名工作人员（演示，种子确认）", roles=["province_admin"],
               region_code="140000", organisation="山西省市场监督管理局"),
    UserCreate(username="demo_taiyuan", display_name="太原市局管理员（演示）", roles=["city_admin"], region_code="140100",
               organisation="太原市市场监督管理局"),
    UserCreate(username="demo_datong", display_name="大同市局管理员（演示）", roles=["city_admin"], region_code="140200",
               organisation="大同市市场监督管理局"),
    UserCreate(username="demo_xiaodian", display_name="小店区局管理员（演示）", roles=["county_admin"], region_code="140105",
               organisation="太原市小店区市场监督管理局"),
    UserCreate(username="demo_inspector", display_name="执法人员（演示）", roles=["inspector"], region_code="140000",
               organisation="山西省市场监督管理局产品质量安全监督管理处", person_id="insp-0001"),
    UserCreate(username="demo_expert", display_name="技术专家（演示）", roles=["expert"], region_code="140000",
               organisation="山西省检验检测中心", person_id="exp-0001"),
    UserCreate(username="demo_discipline", display_name="驻局纪检监察组（演示）", roles=["discipline"], region_code="140000",
               organisation="驻山西省市场监督管理局纪检监察组"),
]
DEMO_CLIENTS = [
    ClientCreate(client_id="demo_credit_system", name="信用信息公示系统（演示）", role="credit_system", region_code="140000"),
]


async def seed_demo(db: Database) -> list[str]:
    """Create the missing demo accounts; returns the names created."""
    created = []
    async with db.transaction() as s:
        existing = set((await s.execute(select(User.username).where(User.username.in_([u.username for u in DEMO_USERS])))).scalars())
        for body in DEMO_USERS:
            if body.username not in existing:
                await insert_user(s, body, DEMO_PASSWORD, "demo-seed")
                created.append(body.username)
        for body in DEMO_CLIENTS:
            if await s.get(MachineClient, body.client_id) is None:
                await insert_client(s, body, DEMO_CLIENT_SECRET, "demo-seed")
                created.append(body.client_id)
    return created


async def demo_secrets_in_use(db: Database) -> list[str]:
    """Active accounts still opening with a published demo secret (refused in production)."""
    from .passwords import verify_secret

    found = []
    async with db.session() as s:
        users = (await s.execute(select(User).where(User.username.in_([u.username for u in DEMO_USERS]), User.active.is_(True)))).scalars().all()
        clients = (await s.execute(select(MachineClient).where(MachineClient.client_id.in_([c.client_id for c in DEMO_CLIENTS]), MachineClient.active.is_(True)))).scalars().all()
    for u in users:
        if await verify_secret(u.password_hash, DEMO_PASSWORD):
            found.append(u.username)
    for c in clients:
        if await verify_secret(c.secret_hash, DEMO_CLIENT_SECRET):
            found.append(c.client_id)
    return found
