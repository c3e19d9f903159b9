"""Staff accounts: create, roles and community, passwords (argon2 via argon2-cffi), deactivate.

Used by the CLI (`unionbot staff …`), the staff pages (/admin/staff) and the own-account page.
Every function raises ValueError with a Chinese sentence for staff on bad input. Ending an
account's sessions is part of deactivating it and of setting or resetting its password.
"""
from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Sequence
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.admin import sessions
from bot.admin.roles import ADMIN, ROLES
from bot.db.models.core import Staff

USERNAME_RE = re.compile(r"^[a-z0-9_.-]{3,32}$")
MIN_PASSWORD = 10
TEMP_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read aloud or off a screen

_hasher = PasswordHasher()
# Verified against when the username is unknown, so both paths cost the same.
_DUMMY_HASH = _hasher.hash("unionbot-dummy-password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Check `password`; with no hash (no such account) the same work is done against a dummy."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def verify_dummy(password: str) -> None:
    """Spend the time of a real check when there is no account to check against."""
    verify_password(None, password)


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


def check_password(password: str, username: str = "") -> str:
    """The minimum strength: 10 characters, not only digits, not the username (nor containing
    it, for names of 4 letters or more), at least 4 different characters."""
    password = password or ""
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"密码至少需要{MIN_PASSWORD}个字符")
    if password.isdecimal():
        raise ValueError("密码不能全是数字，请加入字母或符号")
    name = normalize_username(username)
    if name and (password.lower() == name or (len(name) >= 4 and name in password.lower())):
        raise ValueError("密码不能包含用户名")
    if len(set(password)) < 4:
        raise ValueError("密码太简单，请混合使用不同的字母、数字或符号")
    return password


def temporary_password() -> str:
    """A one-time password for a new or reset account, e.g. `k7mq-x4tp-9wzr` (must be changed
    at the first login)."""
    return "-".join("".join(secrets.choice(TEMP_ALPHABET) for _ in range(4)) for _ in range(3))


def check_roles(roles: Iterable[str]) -> list[str]:
    chosen = [r for r in ROLES if r in set(roles)]  # in the order of ROLES
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"未知的角色：{'、'.join(sorted(unknown))}")
    if not chosen:
        raise ValueError("请至少选择一个角色")
    return chosen


def check_community(community: str | None, communities: Sequence[str] = ()) -> str | None:
    """'' or None: the federation (sees every community). With `[federation] communities`
    configured, the name must be one of them."""
    name = (community or "").strip()
    if not name:
        return None
    if len(name) > 64:
        raise ValueError("社区名称太长（最多64个字）")
    if communities and name not in communities:
        raise ValueError(f"「{name}」不在配置的社区列表中（{'、'.join(communities)}）")
    return name


ADMIN_WITH_COMMUNITY = ("管理员账号属于街道总工会，管理全部账号和社区，不能同时限定某个社区。"
                        "请把范围选为「街道（全部社区）」，或去掉管理员角色、只给这个社区账号需要的角色。")


def check_admin_scope(roles: Iterable[str], community: str | None) -> None:
    """An admin manages every account and community: it can't be a community's account."""
    if ADMIN in set(roles) and community:
        raise ValueError(ADMIN_WITH_COMMUNITY)


def configured_communities(settings: object) -> list[str]:
    """`[federation] communities` when the config has it (else [])."""
    federation = getattr(settings, "federation", None)
    return [str(c) for c in (getattr(federation, "communities", None) or [])]


async def get_staff(session: AsyncSession, username: str) -> Staff | None:
    return await session.scalar(select(Staff).where(Staff.username == normalize_username(username)))


async def get_by_id(session: AsyncSession, staff_id: int) -> Staff | None:
    return await session.get(Staff, staff_id)


async def any_staff(session: AsyncSession) -> bool:
    return bool(await session.scalar(select(func.count()).select_from(Staff)))


async def all_staff(session: AsyncSession) -> list[Staff]:
    return list(await session.scalars(select(Staff).order_by(Staff.active.desc(), Staff.username)))


async def _other_active_admins(session: AsyncSession, staff_id: int) -> int:
    rows = await session.scalars(select(Staff).where(Staff.active.is_(True), Staff.id != staff_id))
    return sum(1 for s in rows if ADMIN in (s.roles or ()))


async def _keep_an_admin(session: AsyncSession, staff: Staff) -> None:
    if ADMIN in (staff.roles or ()) and staff.active and not await _other_active_admins(session, staff.id):
        raise ValueError("至少要保留一个在用的管理员账号")


async def create_staff(
    session: AsyncSession, username: str, password: str, display_name: str, now: datetime, *,
    roles: Iterable[str] | None = None, community: str | None = None, communities: Sequence[str] = (),
    must_change_password: bool = False,
) -> Staff:
    """Add a staff account. Without `roles`, the first account is an admin (and later ones need
    roles); the CLI and the staff page make sure the first account is an admin."""
    name = _check_username(username)
    check_password(password, name)
    if await get_staff(session, name) is not None:
        raise ValueError(f"用户名 {name} 已存在")
    if roles is None:
        roles = [] if await any_staff(session) else [ADMIN]
    chosen = check_roles(list(roles))
    place = check_community(community, communities)
    check_admin_scope(chosen, place)
    staff = Staff(
        username=name, display_name=(display_name or "").strip()[:64], password_hash=hash_password(password),
        active=True, created_at=now, roles=chosen, community=place,
        must_change_password=must_change_password, password_changed_at=now,
    )
    session.add(staff)
    await session.flush()
    return staff


async def update_staff(
    session: AsyncSession, staff: Staff, *, roles: Iterable[str], community: str | None, display_name: str,
    communities: Sequence[str] = (),
) -> list[str]:
    """Change roles, community and display name; returns the names of the fields changed."""
    chosen = check_roles(roles)
    place = check_community(community, communities)
    check_admin_scope(chosen, place)
    name = (display_name or "").strip()[:64]
    if ADMIN not in chosen:
        await _keep_an_admin(session, staff)
    changed = []
    if list(staff.roles or ()) != chosen:
        staff.roles, changed = chosen, [*changed, "roles"]
    if staff.community != place:
        staff.community, changed = place, [*changed, "community"]
    if (staff.display_name or "") != name:
        staff.display_name, changed = name, [*changed, "display_name"]
    await session.flush()
    return changed


async def _find(session: AsyncSession, who: str | Staff) -> Staff:
    if isinstance(who, Staff):
        return who
    staff = await get_staff(session, who)
    if staff is None:
        raise ValueError(f"没有用户名为 {normalize_username(who)} 的工作人员")
    return staff


async def set_password(
    session: AsyncSession, who: str | Staff, password: str, now: datetime, *, must_change: bool = False,
    keep_session: str | None = None, reason: str = "password_change",
) -> Staff:
    """Set a new password and end the account's sessions (all but `keep_session`)."""
    staff = await _find(session, who)
    check_password(password, staff.username)
    staff.password_hash = hash_password(password)
    staff.password_changed_at = now
    staff.must_change_password = must_change
    await sessions.revoke_all(session, staff.id, reason, now, except_id=keep_session)
    await session.flush()
    return staff


async def reset_password(session: AsyncSession, who: str | Staff, now: datetime) -> tuple[Staff, str]:
    """A temporary password (to be shown once) that must be changed at the next login; every
    session of the account ends."""
    temp = temporary_password()
    staff = await set_password(session, who, temp, now, must_change=True, reason="password_reset")
    return staff, temp


async def set_active(session: AsyncSession, who: str | Staff, active: bool, now: datetime) -> Staff:
    """Enable or disable an account; disabling ends its sessions at once."""
    staff = await _find(session, who)
    if not active:
        await _keep_an_admin(session, staff)  # nobody can switch off the last active admin
        await sessions.revoke_all(session, staff.id, "deactivated", now)
    staff.active = active
    await session.flush()
    return staff
