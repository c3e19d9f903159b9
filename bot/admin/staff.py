"""Staff accounts: create, change password, verify (argon2 via argon2-cffi)."""
from __future__ import annotations

import re
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models.core import Staff

USERNAME_RE = re.compile(r"^[a-z0-9_.-]{3,32}$")
MIN_PASSWORD = 8

_hasher = PasswordHasher()
# Verified against when the username is unknown, so both paths cost the same.
_DUMMY_HASH = _hasher.hash("unionbot-dummy-password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def verify_dummy(password: str) -> None:
    """Spend the time of a real check when there is no account to check against."""
    verify_password(_DUMMY_HASH, password)


def needs_rehash(password_hash: str) -> bool:
    try:
        return _hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


def normalize_username(username: str) -> str:
    return (username or "").strip().lower()


def _check_username(username: str) -> str:
    name = normalize_username(username)
    if not USERNAME_RE.match(name):
        raise ValueError("用户名需为3到32位，只能包含小写字母、数字和 _ . -")
    return name


def _check_password(password: str) -> str:
    if len(password or "") < MIN_PASSWORD:
        raise ValueError(f"密码至少需要{MIN_PASSWORD}位")
    return password


async def get_staff(session: AsyncSession, username: str) -> Staff | None:
    return await session.scalar(select(Staff).where(Staff.username == normalize_username(username)))


async def any_staff(session: AsyncSession) -> bool:
    return bool(await session.scalar(select(func.count()).select_from(Staff)))


async def create_staff(
    session: AsyncSession, username: str, password: str, display_name: str, now: datetime
) -> Staff:
    """Add a staff account; raises ValueError (in Chinese) on bad input or a taken name."""
    name = _check_username(username)
    _check_password(password)
    if await get_staff(session, name) is not None:
        raise ValueError(f"用户名 {name} 已存在")
    staff = Staff(
        username=name, display_name=(display_name or "").strip()[:64], password_hash=hash_password(password),
        active=True, created_at=now, failed_logins=0, locked_until=None,
    )
    session.add(staff)
    await session.flush()
    return staff


async def set_password(session: AsyncSession, username: str, password: str) -> Staff:
    """Change a password and lift any login lockout; ValueError if unknown or too short."""
    _check_password(password)
    staff = await get_staff(session, username)
    if staff is None:
        raise ValueError(f"没有用户名为 {normalize_username(username)} 的管理员")
    staff.password_hash = hash_password(password)
    staff.failed_logins = 0
    staff.locked_until = None
    await session.flush()
    return staff


async def set_active(session: AsyncSession, username: str, active: bool) -> Staff:
    """Enable or disable an account (a disabled account cannot log in)."""
    staff = await get_staff(session, username)
    if staff is None:
        raise ValueError(f"没有用户名为 {normalize_username(username)} 的管理员")
    staff.active = active
    await session.flush()
    return staff
