"""Contract-shaped scheduling events (docs/events.md) and tiny real files for the inspection tests."""
from __future__ import annotations

import struct
import zlib

from shared.events.envelope import make_event

PLAN = "plan-2022"
TEAM = "team-1"
LEADER, DEPUTY, OFFICER1, OFFICER2, OFFICER3 = "insp-0001", "exp-0001", "insp-0101", "insp-0102", "insp-0103"


def member(pid, role, kind, law, level="province", region="140000", name=None):
    return {"person_id": pid, "name": name or f"人员{pid}", "role": role, "pool": "leaders" if role == "leader" else "officers",
            "kind": kind, "law_enforcement": law, "level": level, "region_code": region, "organisation": "山西省市场监督管理局"}


MEMBERS = [
    member(LEADER, "leader", "inspector", True, name="张组长"),
    member(DEPUTY, "deputy", "expert", False, name="李专家"),
    member(OFFICER1, "member", "inspector", True, name="王执法"),
    member(OFFICER2, "member", "inspector", True, level="county", region="140105", name="赵执法"),
    member(OFFICER3, "member", "inspector", True, level="county", region="140106", name="钱执法"),
]

USCC_FOOD = "91140100MA0000001X"
USCC_WIRE = "91140100MA0000002X"
USCC_CEMENT = "91140100MA0000003X"
USCC_OTHER = "91140100MA0000009X"


def team_formed(team_id=TEAM, members=MEMBERS, report_date="2022-11-20"):
    return make_event("scheduling", "team", "formed", {
        "team_id": team_id, "assignment_id": "asg-1", "plan_id": PLAN, "code": "01", "label": "第1组（太原）", "city_code": "140100",
        "categories": ["food_related", "wire_cable", "cement"], "members": members,
        "enterprises": [], "window": {"start": "2022-06-10", "end": "2022-11-10"}, "report_date": report_date}, subject_id=team_id)


def dispatched(task_id, uscc, categories, team_id=TEAM, county="140105", name=None, members=MEMBERS):
    return make_event("scheduling", "task", "dispatched", {
        "task_id": task_id, "assignment_id": "asg-1", "plan_id": PLAN, "team_id": team_id, "team_label": "第1组（太原）",
        "enterprise": {"uscc": uscc, "name": name or f"山西{task_id}有限公司", "categories": categories},
        "site": {"id": f"site-{task_id}", "address": f"太原市{task_id}路1号", "region_code": county},
        "city_code": county[:4] + "00", "county_code": county, "accept_by": "2022-06-15", "visit_date": "2022-06-20", "members": members}, subject_id=task_id)


def amended(team_id, seq, members):
    return make_event("scheduling", "team", "amended", {"team_id": team_id, "plan_id": PLAN, "amendment_id": f"am-{seq}", "seq": seq,
                                                         "kind": "substitution", "reason": "回避", "members": members}, subject_id=team_id)


def cancelled(task_id, uscc, team_id=TEAM):
    return make_event("scheduling", "task", "cancelled", {"task_id": task_id, "team_id": team_id, "plan_id": PLAN, "uscc": uscc,
                                                           "site_id": f"site-{task_id}", "reason": "企业已注销", "amendment_id": "am-x"}, subject_id=task_id)


def licence_issued(uscc, number, category):
    return make_event("registry", "licence", "issued", {"id": f"lic-{number}", "number": number, "uscc": uscc, "category": category,
                                                         "product_description": None, "issue_date": "2020-03-01", "expiry_date": "2025-02-28",
                                                         "status": "有效", "version": 1, "enterprise_name": "x", "region_code": "140105"}, subject_id=number)


def png(width=2, height=2) -> bytes:
    """A real, tiny PNG (a drawn signature in the tests)."""
    raw = b"".join(b"\x00" + b"\x00\x00\x00" * width for _ in range(height))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64 + b"\xff\xd9"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
