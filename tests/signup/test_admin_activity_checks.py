"""Staff publishing an activity in the admin site: each thing missing or out of place is refused
with its own sentence (400, nothing created), over HTTP."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bot.db.models.signup import Activity
from handlers.signup.admin import CAPACITY_HINT, YEARS_HINT
from handlers.signup.ops import MAX_CAPACITY, MAX_YEAR, MIN_YEAR, SignupError
from tests.signup.test_admin import FORM
from tests.support.admin import csrf_at, log_in_staff
from tests.support.signup import at, make_activity

CASES = [
    ({"title": ""}, "请填写活动名称。"),
    ({"title": "   "}, "请填写活动名称。"),
    ({"place": ""}, "请填写活动地点。"),
    ({"place": "  "}, "请填写活动地点。"),
    ({"ends_at": "2026-11-26T14:00"}, "结束时间应晚于开始时间。"),
    ({"deadline": "2026-11-26T15:00"}, "报名截止时间不能晚于活动开始时间。"),
    ({"starts_at": f"{MIN_YEAR - 1}-11-26T14:00"}, YEARS_HINT),  # the page's own hints, before the rules
    ({"capacity": "0"}, CAPACITY_HINT),
    ({"capacity": str(MAX_CAPACITY + 1)}, CAPACITY_HINT),
    ({"kind": "party"}, "请选择类别：培训或活动。"),
]
# The rules themselves, for every caller (the page above checks these three first).
RULES = [
    ({"starts_at": at(26, 14).replace(year=MIN_YEAR - 1)}, f"日期超出范围：请填写 {MIN_YEAR} 年到 {MAX_YEAR} 年之间的日期。"),
    ({"deadline": at(20, 14).replace(year=MIN_YEAR - 1)}, f"日期超出范围：请填写 {MIN_YEAR} 年到 {MAX_YEAR} 年之间的日期。"),
    ({"capacity": 0}, "人数上限至少为 1（不限人数请留空）。"),
    ({"capacity": MAX_CAPACITY + 1}, f"人数上限最多 {MAX_CAPACITY} 人（不限人数请留空）。"),
    ({"starts_at": None}, "请填写活动的开始时间和结束时间。"),
    ({"ends_at": None}, "请填写活动的开始时间和结束时间。"),
    ({"title": None}, "请填写活动名称。"),
    ({"place": None}, "请填写活动地点。"),
]


@pytest.mark.parametrize(("change", "said"), CASES)
async def test_an_activity_that_does_not_add_up_is_refused_with_its_reason(client, db, change, said) -> None:  # noqa: ANN001
    await log_in_staff(client, db)
    token = await csrf_at(client, "/admin/signup/new")
    resp = await client.post("/admin/signup/new", data={**FORM, "_csrf": token, **change})
    assert resp.status == 400 and said in await resp.text()
    async with db() as s:
        assert await s.scalar(select(func.count()).select_from(Activity)) == 0


async def test_a_capacity_at_the_limits_is_taken(client, db) -> None:  # noqa: ANN001
    await log_in_staff(client, db)
    for cap in ("1", str(MAX_CAPACITY)):
        token = await csrf_at(client, "/admin/signup/new")
        resp = await client.post("/admin/signup/new", data={**FORM, "_csrf": token, "capacity": cap}, allow_redirects=False)
        assert resp.status == 303
    async with db() as s:
        assert sorted(a.capacity for a in await s.scalars(select(Activity))) == [1, MAX_CAPACITY]
        assert {a.status for a in await s.scalars(select(Activity))} == {"open"}


@pytest.mark.parametrize(("change", "said"), RULES)
async def test_the_rules_refuse_for_every_caller(db, clock, change, said) -> None:  # noqa: ANN001
    with pytest.raises(SignupError) as refused:
        await make_activity(db, clock, **change)
    assert str(refused.value) == said
    async with db() as s:
        assert await s.scalar(select(func.count()).select_from(Activity)) == 0
