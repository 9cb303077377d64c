"""Field rules shared by the API schemas and the bulk import: 统一社会信用代码, licence numbers,
region codes, dates. Each check returns the normalised value or raises ``ValueError`` with a
Chinese message (the API turns it into a problem naming the field; the import into a row report)."""
from __future__ import annotations

import datetime as dt
import re

from stdnum import exceptions as stdnum_errors
from stdnum.cn import uscc as stdnum_uscc

from shared import regions

from . import catalogue
from .models import LICENCE_STATUSES, PRODUCTION_STATUSES

LICENCE_NUMBER_RE = re.compile(r"^\((晋|[\u4e00-\u9fa5])\)XK\d{2}-\d{3}-\d{5}$")
_FULLWIDTH = str.maketrans({"（": "(", "）": ")", "－": "-", "—": "-", "Ｘ": "X", "Ｋ": "K"})
_PHONE_RE = re.compile(r"^[0-9+\-() ]{5,40}$")


_USCC_SHAPE = re.compile(r"^[0-9]{8}[0-9A-HJ-NPQRTUWXY]{10}$")


def check_uscc(value: str) -> str:
    value = (value or "").strip().upper()
    if not value:
        raise ValueError("统一社会信用代码不能为空")
    if _USCC_SHAPE.match(value) and stdnum_uscc.calc_check_digit(value) == value[-1]:
        return value  # fast path for bulk imports: the same check stdnum.validate makes
    try:
        return stdnum_uscc.validate(value)
    except stdnum_errors.InvalidLength:
        raise ValueError("统一社会信用代码应为18位") from None
    except stdnum_errors.InvalidChecksum:
        raise ValueError("统一社会信用代码校验位错误") from None
    except stdnum_errors.ValidationError:
        raise ValueError("统一社会信用代码格式不正确") from None


def check_licence_number(value: str) -> str:
    value = (value or "").strip().translate(_FULLWIDTH)
    if not LICENCE_NUMBER_RE.match(value):
        raise ValueError("许可证编号格式不正确，应如 (晋)XK05-001-00001")
    return value


def check_county(value: str) -> str:
    value = (value or "").strip()
    if not regions.is_county(value):
        raise ValueError(f"未知的县级行政区划代码：{value}" if value else "地区代码不能为空")
    return value


def check_region(value: str) -> str:
    value = (value or "").strip()
    if not regions.is_known(value):
        raise ValueError(f"未知的行政区划代码：{value}")
    return value


def check_category(value: str) -> str:
    code = catalogue.resolve(value)
    if code is None:
        raise ValueError(f"产品类别不在目录中：{value}")
    return code


def check_production_status(value: str) -> str:
    value = (value or "").strip()
    if value not in PRODUCTION_STATUSES:
        raise ValueError(f"生产状态应为{'/'.join(PRODUCTION_STATUSES)}之一")
    return value


def check_licence_status(value: str) -> str:
    value = (value or "").strip()
    if value not in LICENCE_STATUSES:
        raise ValueError(f"许可证状态应为{'/'.join(LICENCE_STATUSES)}之一")
    return value


def check_phone(value: str | None) -> str | None:
    value = (value or "").strip()
    if not value:
        return None
    if not _PHONE_RE.match(value):
        raise ValueError("联系电话格式不正确")
    return value


def parse_date(value) -> dt.date:
    """YYYY-MM-DD, YYYY/MM/DD, YYYY年M月D日 or a spreadsheet date cell."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value or "").strip()
    if not text:
        raise ValueError("日期不能为空")
    m = re.match(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?$", text)
    if not m:
        raise ValueError("日期格式应为 YYYY-MM-DD")
    try:
        return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        raise ValueError("日期不存在") from None


def default_expiry(issue: dt.date) -> dt.date:
    """The norm is 5 years of validity: issue + 5 years - 1 day (29 Feb issues roll to 28 Feb)."""
    if issue.month == 2 and issue.day == 29:
        return dt.date(issue.year + 5, 2, 28)
    return issue.replace(year=issue.year + 5) - dt.timedelta(days=1)


def check_validity(issue: dt.date, expiry: dt.date | None) -> dt.date:
    expiry = expiry or default_expiry(issue)
    if expiry <= issue:
        raise ValueError("有效期至必须晚于发证日期")
    return expiry
