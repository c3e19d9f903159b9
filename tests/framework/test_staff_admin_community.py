"""An admin account belongs to the federation: it manages every account and community, so it
can't also be a community's account — refused by the staff operations, the /admin/staff forms
(in Chinese) and `unionbot staff add` (in English)."""
from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.admin import staff as staff_ops
from bot.clock import FakeClock
from bot.db.models.core import Staff
from tests.framework.test_staff_admin import (  # noqa: F401  (admin, new_client, settings: fixtures)
    _cli, add_account, admin, audit_actions, get_staff, new_client, settings,
)
from tests.support.admin import create_staff_user, csrf_at

REFUSAL = "管理员账号属于街道总工会"


async def test_staff_operations_refuse_an_admin_with_a_community(sessionmaker):  # noqa: ANN001
    now = FakeClock().now()
    async with sessionmaker() as db, db.begin():
        with pytest.raises(ValueError, match=REFUSAL):
            await staff_ops.create_staff(db, "boss2", "chief-secret-2", "", now, roles=["admin"], community="东湖社区")
        with pytest.raises(ValueError, match=REFUSAL):
            await staff_ops.create_staff(db, "boss2", "chief-secret-2", "", now, roles=["hardship", "admin"],
                                         community="东湖社区")
        # the first account is an admin all by itself: with a community it is refused just the same
        with pytest.raises(ValueError, match=REFUSAL):
            await staff_ops.create_staff(db, "boss2", "chief-secret-2", "", now, community="东湖社区")
        row = await staff_ops.create_staff(db, "boss2", "chief-secret-2", "", now, roles=["admin"])
        worker = await staff_ops.create_staff(db, "worker", "helper-secret-1", "", now, roles=["hardship"],
                                              community="东湖社区")
        with pytest.raises(ValueError, match=REFUSAL):
            await staff_ops.update_staff(db, row, roles=["admin"], community="东湖社区", display_name="")
        with pytest.raises(ValueError, match=REFUSAL):
            await staff_ops.update_staff(db, worker, roles=["hardship", "admin"], community="东湖社区", display_name="")
        assert await staff_ops.update_staff(db, worker, roles=["hardship", "admin"], community="",
                                            display_name="") == ["roles", "community"]
    assert (row.roles, row.community) == (["admin"], None)


async def test_the_staff_page_refuses_an_admin_with_a_community(admin, sessionmaker):  # noqa: ANN001
    resp = await add_account(admin, username="sq.admin", roles=("admin", "hardship"), community="东湖社区")
    text = await resp.text()
    assert resp.status == 400 and REFUSAL in text and "街道（全部社区）" in text
    assert await get_staff(sessionmaker, "sq.admin") is None
    assert ("staff.create", "sq.admin", True) in await audit_actions(sessionmaker)
    page = await (await admin.get("/admin/staff")).text()
    assert "管理员账号只能是街道账号" in page  # said beside the field before anyone tries

    worker = await create_staff_user(sessionmaker, "sq.worker", roles=("hardship",), community="东湖社区")
    url = f"/admin/staff/{worker.id}"
    resp = await admin.post(f"{url}/update", data=[("_csrf", await csrf_at(admin, url)), ("display_name", "小王"),
                                                   ("roles", "hardship"), ("roles", "admin"),
                                                   ("community", "东湖社区")])
    assert resp.status == 400 and REFUSAL in await resp.text()
    row = await get_staff(sessionmaker, "sq.worker")
    assert (row.roles, row.community) == (["hardship"], "东湖社区")
    resp = await admin.post(f"{url}/update", data=[("_csrf", await csrf_at(admin, url)), ("display_name", "小王"),
                                                   ("roles", "hardship"), ("roles", "admin"), ("community", "")])
    assert resp.status == 200 and "已保存" in await resp.text()
    row = await get_staff(sessionmaker, "sq.worker")
    assert (row.roles, row.community) == (["admin", "hardship"], None)


def test_the_cli_refuses_an_admin_with_a_community(tmp_path):  # noqa: ANN001
    run, engine = _cli(tmp_path)
    result = run("staff", "add", "boss", "--community", "东湖社区", "--password-stdin", input="chief-password-1\n")
    assert result.exit_code == 2
    assert "the first account is an admin, and an admin account belongs to the federation" in result.output
    assert "drop --community" in result.output
    result = run("staff", "add", "boss", "--role", "admin", "--password-stdin", input="chief-password-1\n")
    assert result.exit_code == 0, result.output
    result = run("staff", "add", "deputy", "--role", "admin", "--role", "hardship", "--community", "东湖社区",
                 "--password-stdin", input="second-secret-1\n")
    assert result.exit_code == 2 and result.output.startswith("error: an admin account belongs to the federation")
    result = run("staff", "add", "deputy", "--role", "hardship", "--community", "东湖社区",
                 "--password-stdin", input="second-secret-1\n")
    assert result.exit_code == 0 and "community: 东湖社区" in result.output
    with Session(engine) as db:
        assert sorted((s.username, tuple(s.roles), s.community) for s in db.scalars(select(Staff))) == [
            ("boss", ("admin",), None), ("deputy", ("hardship",), "东湖社区")]
