"""Community scope of activities: a community union's events account manages its community's
activities and reads the federation's own (without their sign-up lists); another community's
activities don't exist for it. The worker's community is asked once in the sign-up dialogue and
kept on the profile (the hardship form then doesn't ask again)."""
from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select

from bot.db.models.core import Member
from bot.db.models.hardship import HardshipRequest
from bot.db.models.signup import Activity, Signup
from handlers.signup import ops
from tests.support.admin import DEFAULT_PASSWORD, create_staff_user, csrf_at, login
from tests.support.settings import make_settings
from tests.support.signup import at, make_activity, ops_ctx

A, B = "幸福社区", "和平社区"
FORM = {"kind": "training", "title": "叉车操作技能培训", "description": "理论加实操", "place": "街道职工学校201",
        "starts_at": "2026-11-26T14:00", "ends_at": "2026-11-26T16:30", "deadline": "", "capacity": "10",
        "waitlist": "1", "audience": "物流企业职工"}


@pytest.fixture
def settings(db_url, tmp_path):  # noqa: ANN001, ANN201
    return make_settings(db_url, tmp_path, federation={"communities": [A, B]})


async def activity_with_signup(db, clock, title: str, community: str | None, worker: str, phone: str,  # noqa: ANN001
                               day: int) -> tuple[Activity, Signup]:
    act = await make_activity(db, clock, title=title, community=community, capacity=None,
                              starts_at=at(day, 14), ends_at=at(day, 16))
    now = clock.now()
    async with db() as s, s.begin():
        member = Member(openid=f"o{phone}", first_seen=now, last_seen=now, name=worker, phone=phone)
        s.add(member)
        await s.flush()
        res = await ops.sign_up(s, ops_ctx(clock), act.id, member, name=worker, phone=phone, employer="红星机械厂")
        res.signup.attended_at = at(day, 14, 5)  # came (the training record counts it)
        res.signup.checkin_via = "staff"
        return act, res.signup


async def three_activities(db, clock):  # noqa: ANN001, ANN201
    mine = await activity_with_signup(db, clock, "幸福讲座", A, "甲职工", "13800000001", 24)
    other = await activity_with_signup(db, clock, "和平讲座", B, "乙职工", "13800000002", 25)
    street = await activity_with_signup(db, clock, "街道讲座", None, "丙职工", "13800000003", 26)
    return mine, other, street


async def test_community_events_account_scope(client, db, clock):  # noqa: ANN001
    (a_mine, s_mine), (a_other, s_other), (a_street, s_street) = await three_activities(db, clock)
    await create_staff_user(db, "xingfu", roles=("events",), community=A)
    await login(client, "xingfu", DEFAULT_PASSWORD)

    page = await (await client.get("/admin/signup")).text()
    assert "幸福讲座" in page and "街道讲座" in page and "和平讲座" not in page

    # its own activity: everything
    page = await (await client.get(f"/admin/signup/{a_mine.id}")).text()
    assert "甲职工" in page and "取消活动" in page
    resp = await client.get(f"/admin/signup/{a_mine.id}/export.csv")
    assert resp.status == 200 and "甲职工" in (await resp.read()).decode("utf-8-sig")

    # the federation's activity: the facts and counts, not the workers, no actions
    resp = await client.get(f"/admin/signup/{a_street.id}")
    page = await resp.text()
    assert resp.status == 200 and "街道讲座" in page and "街道总工会组织的活动" in page
    assert "丙职工" not in page and "取消活动" not in page and "导出" not in page
    assert (await client.get(f"/admin/signup/{a_street.id}/export.csv")).status == 403
    assert (await client.get(f"/admin/signup/{a_street.id}/edit")).status == 403
    token = await csrf_at(client, f"/admin/signup/{a_mine.id}")
    resp = await client.post(f"/admin/signup/{a_street.id}/cancel", data={"_csrf": token, "reason": "x"})
    assert resp.status == 403 and "只能查看" in await resp.text()
    resp = await client.post(f"/admin/signup/{a_street.id}/signups/{s_street.id}/contact", data={"_csrf": token})
    assert resp.status == 403 and "13800000003" not in await resp.text()

    # another community's activity answers as one that doesn't exist
    missing, other = await client.get("/admin/signup/999999"), await client.get(f"/admin/signup/{a_other.id}")
    assert missing.status == other.status == 404 and await missing.text() == await other.text()
    for suffix in ("export.csv", "edit"):
        assert (await client.get(f"/admin/signup/{a_other.id}/{suffix}")).status == 404
    on_missing = await client.post("/admin/signup/999999/cancel", data={"_csrf": token, "reason": "x"})
    on_other = await client.post(f"/admin/signup/{a_other.id}/cancel", data={"_csrf": token, "reason": "x"})
    assert on_missing.status == on_other.status == 404 and await on_missing.text() == await on_other.text()
    resp = await client.post(f"/admin/signup/{a_other.id}/signups/{s_other.id}/contact", data={"_csrf": token})
    assert resp.status == 404 and "13800000002" not in await resp.text()
    resp = await client.post(f"/admin/signup/{a_other.id}/signups/{s_other.id}/cancel", data={"_csrf": token})
    assert resp.status == 404
    async with db() as s:
        assert (await s.get(Activity, a_other.id)).status == "open"
        assert (await s.get(Activity, a_street.id)).status == "open"
        assert (await s.get(Signup, s_other.id)).status == "confirmed"

    # 培训台账: its own community's trainings only
    page = await (await client.get("/admin/signup/record?from=2026-11-01&to=2026-11-30")).text()
    assert "甲职工" in page and "乙职工" not in page and "丙职工" not in page
    rows = list(csv.reader(io.StringIO((await (await client.get(
        "/admin/signup/record/export.csv?from=2026-11-01&to=2026-11-30")).read()).decode("utf-8-sig"))))
    assert [r[1] for r in rows[1:]] == ["甲职工"]

    # what it publishes is its community's, whatever the form says
    token = await csrf_at(client, "/admin/signup/new")
    resp = await client.post("/admin/signup/new", data={**FORM, "_csrf": token, "community": B},
                             allow_redirects=False)
    assert resp.status == 303
    async with db() as s:
        made = await s.scalar(select(Activity).where(Activity.title == FORM["title"]))
    assert made.community == A


async def test_federation_events_account_sees_all_and_chooses_the_organiser(client, db, clock):  # noqa: ANN001
    await three_activities(db, clock)
    await create_staff_user(db, "street", roles=("events",))
    await login(client, "street", DEFAULT_PASSWORD)
    page = await (await client.get("/admin/signup")).text()
    assert "幸福讲座" in page and "和平讲座" in page and "街道讲座" in page
    page = await (await client.get("/admin/signup/record?from=2026-11-01&to=2026-11-30")).text()
    assert "甲职工" in page and "乙职工" in page and "丙职工" in page
    form_page = await (await client.get("/admin/signup/new")).text()
    assert f'<option value="{B}"' in form_page
    token = await csrf_at(client, "/admin/signup/new")
    bad = await client.post("/admin/signup/new", data={**FORM, "_csrf": token, "community": "别处"})
    assert bad.status == 400 and "请从列表中选择社区" in await bad.text()
    resp = await client.post("/admin/signup/new", data={**FORM, "_csrf": token, "community": B},
                             allow_redirects=False)
    assert resp.status == 303
    async with db() as s:
        assert (await s.scalar(select(Activity).where(Activity.title == FORM["title"]))).community == B


async def test_the_community_is_asked_once_and_kept(sim, db, clock):  # noqa: ANN001
    await make_activity(db, clock, capacity=None)
    u = sim.user("oW1")
    await u.send("报名")
    await u.send("1")
    await u.send("王小明")
    await u.send("13800138000")
    reply = await u.send("红星机械厂")
    assert "您在哪个社区" in reply and f"1. {A}" in reply
    summary = await u.send(A)
    assert f"所在社区：{A}" in summary
    assert "报名成功" in await u.send("确认")
    async with db() as s:
        assert (await s.scalar(select(Member).where(Member.openid == "oW1"))).community == A

    # the hardship form knows it now: not asked, shown in the summary
    clock.advance(minutes=1)
    await u.send("帮扶")
    for a in ["同意", "1", "母亲住院做手术，自付医药费很多，家里收入只靠我一人。", "3", "4500", "1500", "沿用",
              "沿用", "沿用"]:
        reply = await u.send(a)
    assert "社区" not in reply and "身份证号" in reply
    await u.send("跳过")
    summary = await u.send("跳过")
    assert f"所在社区：{A}" in summary
    assert "BF-" in await u.send("确认")
    async with db() as s:
        assert (await s.scalar(select(HardshipRequest))).community == A


async def test_skipped_once_not_asked_again(sim, db, clock):  # noqa: ANN001
    await make_activity(db, clock, capacity=None)
    await make_activity(db, clock, title="安全讲座", capacity=None, starts_at=at(27, 9), ends_at=at(27, 11))
    u = sim.user("oW2")
    await u.send("报名")
    await u.send("1")
    await u.send("王小明")
    await u.send("13800138000")
    await u.send("跳过")  # employer
    summary = await u.send("跳过")  # community
    assert "所在社区：（未填）" in summary
    assert "报名成功" in await u.send("确认")
    clock.advance(minutes=1)
    await u.send("报名")
    summary = await u.send("2")
    assert "回复「确认」报名" in summary and "您在哪个社区" not in summary


async def test_enrol_batch_checkin_and_correction_keep_to_the_community(client, db, clock):  # noqa: ANN001
    """代报名, 批量签到 and 更正 (issue 14): a community account on its own activities only; the
    federation's are read-only (403), another community's don't exist (404); viewers see no buttons."""
    (a_mine, s_mine), (a_other, s_other), (a_street, s_street) = await three_activities(db, clock)
    await create_staff_user(db, "xingfu", roles=("events",), community=A)
    await login(client, "xingfu", DEFAULT_PASSWORD)
    token = await csrf_at(client, f"/admin/signup/{a_mine.id}")
    person = {"_csrf": token, "name": "丁职工", "phone": "13800000009", "employer": ""}
    for act, sid, want in ((a_street, s_street.id, 403), (a_other, s_other.id, 404)):
        assert (await client.get(f"/admin/signup/{act.id}/add")).status == want
        assert (await client.post(f"/admin/signup/{act.id}/add", data=person)).status == want
        assert (await client.post(f"/admin/signup/{act.id}/checkin", data={"_csrf": token, "ids": str(sid)})).status == want
        assert (await client.post(f"/admin/signup/{act.id}/signups/{sid}/uncheckin",
                                  data={"_csrf": token})).status == want
    async with db() as s:
        assert (await s.get(Signup, s_street.id)).attended_at is not None
        assert (await s.get(Signup, s_other.id)).attended_at is not None
        assert len((await s.scalars(select(Signup).where(Signup.name == "丁职工"))).all()) == 0
    resp = await client.post(f"/admin/signup/{a_mine.id}/signups/{s_mine.id}/uncheckin", data={"_csrf": token})
    assert resp.status == 200 and "已更正：甲职工 改为未签到" in await resp.text()
    resp = await client.post(f"/admin/signup/{a_mine.id}/add", data=person)
    assert resp.status == 200 and "已为 丁职工 代报名" in await resp.text()  # (the activity starts on the 24th, 14:00)

    await create_staff_user(db, "kan", roles=("viewer",))
    await login(client, "kan", DEFAULT_PASSWORD)
    page = await (await client.get(f"/admin/signup/{a_mine.id}")).text()
    for button in ("代报名", "补录到场人员", "批量签到", ">签到</button>", "更正", "取消报名"):
        assert button not in page, button
