"""The sign-up dialogue on the form engine, through the signed webhook: what people really
send (voice, Chinese numerals, 上一步, 修改, other keywords mid-form, check-in phrasings)."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.db.models.core import Member
from bot.db.models.signup import Activity, Signup
from handlers.signup import ops
from tests.support.signup import at, make_activity, ops_ctx, signup_via_chat

CODE = "273697"


async def known_worker(sim, db, openid: str, employer: str | None = "红星机械厂"):  # noqa: ANN001, ANN201
    """A worker whose name, mobile and employer are on file."""
    u = sim.user(openid)
    await u.send("你好")
    async with db() as s, s.begin():
        m = await s.scalar(select(Member).where(Member.openid == openid))
        m.name, m.phone, m.employer = "赵六", "13900001111", employer
    return u


async def signups(db) -> dict[str, str]:  # noqa: ANN001
    async with db() as s:
        return {r.openid: r.status for r in (await s.scalars(select(Signup))).all()}


# ----------------------------------------------------------------------------- the profile
async def test_profile_on_file_asks_nothing(sim, db, clock):
    await make_activity(db, clock)
    u = await known_worker(sim, db, "oKnown")
    assert "1. 【培训】电工技能培训" in await u.send("报名")
    summary = await u.send("1")  # straight to the summary: nothing asked
    assert summary.startswith("请核对报名信息")
    assert "赵六 139****1111" in summary and "13900001111" not in summary and "工作单位：红星机械厂" in summary
    assert "报名截止：11月26日 14:00｜剩余2个名额" in summary
    assert summary.endswith("回复「确认」报名，「修改」更改联系方式，「取消」放弃。")
    assert "报名成功" in await u.send("确认")
    async with db() as s:
        row = await s.scalar(select(Signup))
    assert (row.name, row.phone, row.employer) == ("赵六", "13900001111", "红星机械厂")


async def test_missing_profile_is_asked_once_and_a_skipped_employer_not_again(sim, db, clock):
    await make_activity(db, clock)
    await make_activity(db, clock, title="读书会", kind="event", starts_at=at(27, 19), ends_at=at(27, 21))
    u = sim.user("oNew")
    await u.send("报名")
    assert "只问一次" in await u.send("1")
    assert "手机号码" in await u.send("孙七")
    ask = await u.send("13700002222")
    assert "请回复您的工作单位" in ask and "跳过" in ask
    assert "工作单位：（未填）" in await u.send("跳过")
    assert "报名成功" in await u.send("确认")
    await u.send("报名")
    summary = await u.send("2")  # name, mobile and the skipped employer: none asked again
    assert "孙七 137****2222" in summary and "回复「确认」报名" in summary
    assert "报名成功" in await u.send("确认")
    async with db() as s:
        m = await s.scalar(select(Member).where(Member.openid == "oNew"))
    assert m.employer == ""


@pytest.mark.parametrize("said", ["好的", "😀", "👍👍", "12345"])
async def test_not_a_name_is_refused_with_a_hint(sim, db, clock, said):
    await make_activity(db, clock)
    u = sim.user("oName")
    await u.send("报名")
    await u.send("1")
    reply = await u.send(said)
    assert "真实姓名" in reply and "例如「张三」" in reply
    assert "手机号码" in await u.send("张三")
    async with db() as s:
        m = await s.scalar(select(Member).where(Member.openid == "oName"))
    assert m.name is None  # nothing stored before 确认


async def test_edit_at_the_summary_changes_the_contact_details(sim, db, clock):
    await make_activity(db, clock)
    u = await known_worker(sim, db, "oEdit")
    await u.send("报名")
    await u.send("1")
    menu = await u.send("修改")
    assert "1. 姓名：赵六" in menu and "2. 手机号：139****1111" in menu and "3. 工作单位：红星机械厂" in menu
    ask = await u.send("2")
    assert "手机号码" in ask and "上次留的是「139****1111」" in ask
    summary = await u.send("13600003333")
    assert "赵六 136****3333" in summary and "回复「确认」报名" in summary  # back at the summary
    assert "报名成功" in await u.send("确认")
    async with db() as s:
        m = await s.scalar(select(Member).where(Member.openid == "oEdit"))
        row = await s.scalar(select(Signup))
    assert m.phone == "13600003333" and row.phone == "13600003333"


async def test_back_at_the_summary_with_everything_on_file_shows_the_list(sim, db, clock):
    await make_activity(db, clock)
    await make_activity(db, clock, title="读书会", kind="event", starts_at=at(27, 19), ends_at=at(27, 21))
    u = await known_worker(sim, db, "oBack")
    await u.send("报名")
    await u.send("1")
    back = await u.send("上一步")
    assert "回到上一步" in back and "2. 【活动】读书会" in back
    assert "【活动】读书会" in await u.send("2")
    assert "报名成功" in await u.send("确认")
    async with db() as s:
        acts = {a.id: a.title for a in (await s.scalars(select(Activity))).all()}
        row = await s.scalar(select(Signup))
    assert acts[row.activity_id] == "读书会"


# ----------------------------------------------------------------------------- seats and refusals
async def test_full_activity_summary_says_waitlist_and_confirm_joins_it(sim, db, clock):
    await make_activity(db, clock, capacity=1)
    await signup_via_chat(sim.user("oFirst"), "王一", "13800000001")
    u = await known_worker(sim, db, "oSecond")
    await u.send("报名")
    summary = await u.send("1")
    assert "名额已满，确认后加入候补" in summary
    assert "候补名单，目前排第1位" in await u.send("确认")
    assert (await signups(db)) == {"oFirst": "confirmed", "oSecond": "waitlist"}


async def test_refusal_goes_back_to_the_list_and_keeps_the_contact_details(sim, db, clock):
    closing = await make_activity(db, clock, title="安全生产讲座", starts_at=at(26, 9), ends_at=at(26, 11))
    await make_activity(db, clock, title="读书会", kind="event", starts_at=at(27, 19), ends_at=at(27, 21))
    u = sim.user("oRefused")
    await u.send("报名")
    await u.send("1")
    await u.send("周八")
    await u.send("13500004444")
    assert "安全生产讲座" in await u.send("物流公司")
    async with db() as s, s.begin():  # staff cancel it while the worker reads the summary
        await ops.cancel_activity(s, ops_ctx(clock), closing.id, "场地检修")
    back = await u.send("确认")
    assert "这个活动已取消，不能报名了" in back and "其他内容都保留着" in back
    assert "1. 【活动】读书会" in back and "安全生产讲座" not in back  # only what is still open
    summary = await u.send("1")  # nothing asked again
    assert "【活动】读书会" in summary and "周八 135****4444" in summary and "工作单位：物流公司" in summary
    assert "报名成功" in await u.send("确认")
    assert (await signups(db)) == {"oRefused": "confirmed"}


async def test_a_refusal_found_when_signing_up_returns_to_the_list(sim, db, clock, monkeypatch):
    """The seat went between the summary and 确认 (a race the snapshot can't see): back to the list."""
    act = await make_activity(db, clock)
    await make_activity(db, clock, title="读书会", kind="event", starts_at=at(27, 19), ends_at=at(27, 21))
    u = await known_worker(sim, db, "oRace")
    await u.send("报名")
    await u.send("1")
    real = ops.sign_up

    async def seat_gone(session, ctx, activity_id, member, **kw):  # noqa: ANN001, ANN003, ANN202
        if activity_id == act.id:
            return ops.SignupResult("refused", await session.get(Activity, activity_id), reason="full")
        return await real(session, ctx, activity_id, member, **kw)
    monkeypatch.setattr(ops, "sign_up", seat_gone)
    back = await u.send("确认")
    assert "名额已满，也不设候补。这次没有报上" in back and "2. 【活动】读书会" in back
    assert "赵六 139****1111" in await u.send("2")
    assert "报名成功" in await u.send("确认")


async def test_choosing_ones_own_signup_stays_on_the_list(sim, db, clock):
    await make_activity(db, clock)
    u = await known_worker(sim, db, "oTwice")
    assert "报名成功" in await signup_via_chat(u, "赵六", "13900001111")
    await u.send("报名")
    reply = await u.send("1")
    assert "您已经报名了「电工技能培训」，无需重复报名" in reply and "1. 【培训】电工技能培训（您已报名）" in reply
    assert "还没有选活动哦" in await u.send("确认")  # 确认 at the list signs nobody up
    assert "没有第3个活动" in await u.send("3")


async def test_nothing_open_answers_without_opening_a_form(sim, db, clock):
    u = sim.user("oNothing")
    assert "目前没有可以报名" in await u.send("报名")
    assert "没太明白" in await u.send("1")  # no form waits for a number


# ----------------------------------------------------------------------------- other keywords mid-form
async def test_my_signups_and_cancel_typed_mid_form_keep_the_form(sim, db, clock):
    await make_activity(db, clock)
    await make_activity(db, clock, title="读书会", kind="event", starts_at=at(27, 19), ends_at=at(27, 21))
    u = sim.user("oMid")
    assert "报名成功" in await signup_via_chat(u, "钱九", "13300005555")
    async with db() as s, s.begin():  # the profile lost its mobile: the form will ask it
        m = await s.scalar(select(Member).where(Member.openid == "oMid"))
        m.phone = None
    await u.send("报名")
    assert "手机号码" in await u.send("2")
    mine = await u.send("我的报名")
    assert "1. 电工技能培训" in mine and "活动报名还没填完" in mine and "手机号好像不对" not in mine
    cancelled = await u.send("取消报名 1")
    assert "已为您取消「电工技能培训」的报名" in cancelled and "活动报名还没填完" in cancelled
    summary = await u.send("13300006666")  # the employer skipped before is not asked again
    assert "请回复您的工作单位" not in summary and "回复「确认」报名" in summary
    assert "报名成功" in await u.send("确认")
    async with db() as s:
        rows = (await s.scalars(select(Signup))).all()
    assert len(rows) == 2 and {r.status for r in rows} == {"cancelled", "confirmed"}


async def test_hardship_typed_mid_form_keeps_the_form_as_a_draft(sim, db, clock):
    await make_activity(db, clock)
    u = sim.user("oHelp")
    await u.send("报名")
    await u.send("1")
    await u.send("吴十")
    reply = await u.send("帮扶")  # another feature: its own dialogue, the sign-up kept
    assert "同意" in reply and "回复「报名」就能接着填" in reply and "手机号好像不对" not in reply
    back = await u.send("报名")
    assert "还没填完" in back and "手机号码" in back
    await u.send("13200007777")
    await u.send("跳过")
    assert "报名成功" in await u.send("确认")
    async with db() as s:
        m = await s.scalar(select(Member).where(Member.openid == "oHelp"))
    assert m.name == "吴十"


async def test_a_photo_in_the_form_is_answered_not_stored(sim, db, clock):
    await make_activity(db, clock)
    u = sim.user("oPhotoForm")
    await u.send("报名")
    await u.send("1")
    reply = await u.image("M1")
    assert "照片没有保存" in reply and "姓名" in reply


# ----------------------------------------------------------------------------- voice
async def test_voice_answers_with_full_stops_and_chinese_numerals(sim, db, clock):
    await make_activity(db, clock)
    await make_activity(db, clock, title="读书会", kind="event", starts_at=at(27, 19), ends_at=at(27, 21))
    u = sim.user("oVoice")
    assert "2. 【活动】读书会" in await u.voice(recognition="我要报名。")
    assert "姓名" in await u.voice(recognition="二。")  # item 2
    assert "手机号码" in await u.voice(recognition="郑十一。")
    assert "工作单位" in await u.voice(recognition="幺三八零零幺三八零零零。")
    summary = await u.voice(recognition="跳过。")
    assert "【活动】读书会" in summary and "郑十一 138****8000" in summary
    assert "报名成功" in await u.voice(recognition="确认。")
    async with db() as s:
        m = await s.scalar(select(Member).where(Member.openid == "oVoice"))
    assert (m.name, m.phone) == ("郑十一", "13800138000")


@pytest.mark.parametrize("said", ["第二个", "选2", "２", "读书"])
async def test_the_list_takes_ordinals_and_part_of_the_title(sim, db, clock, said):
    await make_activity(db, clock)
    await make_activity(db, clock, title="读书会", kind="event", starts_at=at(27, 19), ends_at=at(27, 21))
    u = await known_worker(sim, db, "oOrdinal")
    await u.send("报名")
    assert "【活动】读书会" in await u.send(said)


# ----------------------------------------------------------------------------- check-in
@pytest.mark.parametrize(("how", "said"), [
    ("text", "签到 273697"),
    ("text", "签到273697"),
    ("text", "签到：273697"),
    ("text", "签到:273697"),
    ("text", "签到码 273697"),
    ("text", "签到码：273697"),
    ("text", "签到２７３６９７"),
    ("text", "我要签到 273697"),
    ("voice", "签到二七三六九七。"),
    ("voice", "签到码，二七三六九七。"),
    ("voice", "签到 273697。"),
])
async def test_check_in_code_as_people_send_it(sim, db, clock, how, said):
    act = await make_activity(db, clock)
    async with db() as s, s.begin():
        (await s.get(Activity, act.id)).checkin_code = CODE
    u = await known_worker(sim, db, "oCheckin")
    assert "报名成功" in await signup_via_chat(u, "赵六", "13900001111")
    clock.set(at(26, 13, 40))
    reply = await (u.voice(recognition=said) if how == "voice" else u.send(said))
    assert "赵六，签到成功" in reply


async def test_check_in_works_mid_form_and_without_code_says_how(sim, db, clock):
    act = await make_activity(db, clock)
    await make_activity(db, clock, title="读书会", kind="event", starts_at=at(27, 19), ends_at=at(27, 21))
    async with db() as s, s.begin():
        (await s.get(Activity, act.id)).checkin_code = CODE
    u = sim.user("oCheckMid")
    assert "报名成功" in await signup_via_chat(u, "冯十二", "13100008888")
    clock.set(at(26, 13, 40))
    await u.send("报名")
    assert "【活动】读书会" in await u.send("2")  # the summary
    how = await u.send("签到")
    assert "「签到」加现场公布的6位数字" in how
    reply = await u.send("签到 二七三六九七")
    assert "签到成功" in reply and "还在" in reply
    assert "报名成功" in await u.send("确认")  # the form went on where it was
    wrong = await u.send("签到 000000")
    assert "签到码不对" in wrong and "6位数字" in wrong
