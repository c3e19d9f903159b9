"""The message pipeline end to end, through the signed webhook: dedup, ordering,
transactions, slow and failing handlers, dialogues and the form engine."""
from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.core.context import Ctx
from bot.core.forms import Field, Form, Invalid, int_parser
from bot.core.router import Router, click_is, text_is
from bot.core.validators import parse_mobile
from bot.db.models import Dialogue, InboundMessage, Member, Outbox, Sequence
from tests.support.settings import SLOW_HANDLER, short_reply_settings
from bot.wechat.simulator import WeChatSim

router = Router("sample")
ORDER: list[str] = []


def parse_city(text: str) -> str:
    if text not in ("北京", "上海"):
        raise Invalid("目前只支持北京或上海。")
    return text


class SampleForm(Form):
    flow = "sample"
    title = "示例登记"
    fields = (
        Field("age", "请问您多大年纪？", parse=int_parser(16, 99), label="年龄"),
        Field("phone", "请留个手机号。", parse=parse_mobile, label="手机",
              prefill=lambda ctx: ctx.member.phone),
        Field("city", "在哪个城市？", parse=parse_city, label="城市"),
        Field("pet", "养宠物吗？", choices=("猫", "狗", "没有"), label="宠物"),
        Field("pet_name", "它叫什么名字？", label="宠物名", condition=lambda d: d.get("pet") in ("猫", "狗")),
        Field("photos", "来张照片吧", kind="images", optional=True, label="照片"),
    )

    async def prepare(self, ctx: Ctx) -> dict[str, Any]:
        return {"_prefill": {"phone": ctx.member.phone}} if ctx.member.phone else {}

    async def submit(self, ctx: Ctx, data: Mapping[str, Any]) -> str:
        seq = await ctx.session.get(Sequence, "sample")
        if seq is None:
            seq = Sequence(name="sample", value=0)
            ctx.session.add(seq)
        seq.value += 1
        ctx.member.phone = data["phone"]
        await ctx.notify(ctx.openid, f"登记成功 {data['age']}", key=f"sample:{ctx.openid}:{seq.value}")
        return f"已登记，编号 {seq.value}"


SampleForm.mount(router, start=text_is("登记") | click_is("SAMPLE"))


@router.on(text_is("慢"))
async def slow_reply(ctx: Ctx) -> str:
    """A handler slower than the reply timeout."""
    ctx.member.employer = "慢单位"
    await asyncio.sleep(SLOW_HANDLER)
    return "终于好了"


@router.on(text_is("坏"))
async def broken_handler(ctx: Ctx) -> str:
    """A handler that writes, then raises."""
    ctx.member.employer = "不该保存"
    await ctx.notify(ctx.openid, "不该发出", key="broken")
    raise RuntimeError("boom")


@router.on(text_is("计数"))
async def count_up(ctx: Ctx) -> str:
    """Count side effects (used by the dedup tests)."""
    seq = await ctx.session.get(Sequence, "count")
    if seq is None:
        seq = Sequence(name="count", value=0)
        ctx.session.add(seq)
    seq.value += 1
    await asyncio.sleep(0.05)
    return f"计数 {seq.value}"


@router.on(text_is("一", "二", "三", "四"))
async def record_order(ctx: Ctx) -> str:
    """Record arrival order; checks nobody else of this user runs meanwhile."""
    ORDER.append("start " + ctx.text)
    await asyncio.sleep(0.05)
    ORDER.append("end " + ctx.text)
    return ctx.text


@pytest.fixture
def settings(db_url, tmp_path):  # noqa: ANN001
    return short_reply_settings(db_url, tmp_path)


@pytest.fixture
async def app(make_app, engine):  # noqa: ANN001
    return make_app(extra_routers=[router])


async def count(db, model, *where) -> int:  # noqa: ANN001
    async with db() as s:
        return await s.scalar(select(func.count()).select_from(model).where(*where))


async def test_form_full_flow_with_hints_back_and_edit(sim: WeChatSim, db) -> None:  # noqa: ANN001
    u = sim.user("oForm1")
    assert "多大年纪" in await u.send("登记")
    reply = await u.send("abc")
    assert "请回复一个数字" in reply and "多大年纪" in reply
    assert "之间" in await u.send("200")
    assert "手机号" in await u.send("35")
    assert "手机号好像不对" in await u.send("12345")
    assert "城市" in await u.send("138 0013 8000")
    assert "手机" in await u.send("上一步")  # back to the phone question
    assert "城市" in await u.send("13800138000")
    assert "只支持" in await u.send("广州")
    reply = await u.send("北京")
    assert "1. 猫" in reply and "3. 没有" in reply
    assert "请回复 1–3" in await u.send("9")
    assert "名字" in await u.send("2")
    assert "照片" in await u.send("旺财")
    assert "第 1 张" in await u.image("MEDIA-A")
    summary = await u.send("完成")
    assert "年龄：35" in summary and "宠物：狗" in summary and "照片：1 张照片" in summary
    menu = await u.send("修改")
    assert "宠物" in menu
    assert "养宠物" in await u.send("4")
    summary = await u.send("没有")  # the pet name is no longer asked
    assert "宠物：没有" in summary and "宠物名" not in summary
    assert "已登记，编号 1" in await u.send("确认")
    async with db() as s:
        member = await s.scalar(select(Member).where(Member.openid == "oForm1"))
        assert member.phone == "13800138000"
        assert (await s.get(Dialogue, ("", "oForm1"))).state is None
    assert await count(db, Outbox, Outbox.key == "sample:oForm1:1") == 1


async def test_prefill_is_offered_and_kept(sim: WeChatSim) -> None:
    u = sim.user("oForm2")
    for text in ("登记", "40", "13900139000", "上海", "没有", "跳过", "确认"):
        await u.send(text)
    await u.send("登记")
    reply = await u.send("41")
    assert "上次留的是「13900139000」" in reply
    assert "城市" in await u.send("沿用")


async def test_cancel_stores_nothing(sim: WeChatSim, db) -> None:  # noqa: ANN001
    u = sim.user("oForm3")
    await u.send("登记")
    await u.send("30")
    assert "已取消" in await u.send("取消")
    assert await count(db, Sequence, Sequence.name == "sample") == 0
    assert "没太明白" in await u.send("13800138000")  # no longer in the form


async def test_restart_and_second_instance_keep_the_dialogue(sim: WeChatSim, make_app, aiohttp_client,
                                                              settings, clock) -> None:  # noqa: ANN001
    u = sim.user("oForm4")
    await u.send("登记")
    await u.send("30")
    # A second instance (or the same service after a restart) on the same database.
    other = await aiohttp_client(make_app(extra_routers=[router]))
    u2 = WeChatSim(other, token=settings.wechat.token, clock=clock).user("oForm4")
    assert "城市" in await u2.send("13800138000")
    assert "宠物" in await u.send("上海")  # back on the first instance: it read the fresh state
    assert "名字" in await u2.send("猫")


async def test_same_msgid_three_times_runs_once_with_identical_replies(sim: WeChatSim, db) -> None:  # noqa: ANN001
    u = sim.user("oDup")
    first = await u.send("计数")
    raw1 = u.last["raw"]
    assert first == "计数 1"
    assert await u.resend() == "计数 1"
    assert await u.resend() == "计数 1"
    assert u.last["raw"] == raw1  # plain mode: the very same bytes
    async with db() as s:
        assert (await s.get(Sequence, "count")).value == 1


async def test_resend_during_processing_awaits_the_same_result(sim: WeChatSim, db) -> None:  # noqa: ANN001
    u = sim.user("oDup2")
    params, body = sim.build("oDup2", MsgType="text", Content="计数", MsgId=987654321)
    replies = await asyncio.gather(*(sim.post_raw(body, params, sign=False) for _ in range(3)))
    texts = [await r.read() for r in replies]
    assert all(r.status == 200 for r in replies)
    assert texts[0] == texts[1] == texts[2]
    async with db() as s:
        assert (await s.get(Sequence, "count")).value == 1
        assert await s.scalar(select(func.count()).select_from(InboundMessage)
                              .where(InboundMessage.openid == u.openid)) == 1  # one dedup record

async def test_four_messages_of_one_user_at_once_run_one_at_a_time(sim: WeChatSim, app) -> None:  # noqa: ANN001
    from bot.keys import PROCESSOR

    # the promise is the order, not the 5-second rule: four batches one after another may take
    # longer than this module's short reply timeout late in a full run on a loaded machine
    app[PROCESSOR].timeout = 30.0
    ORDER.clear()
    u = sim.user("oOrder")
    results = await asyncio.gather(*(u.send(w) for w in ("一", "二", "三", "四")))
    assert sorted(results) == sorted(["一", "二", "三", "四"])
    # never two "start" in a row: each finished before the next began
    for a, b in zip(ORDER[::2], ORDER[1::2]):
        assert a.startswith("start") and b == "end" + a[5:]


async def test_slow_handler_answers_success_and_replies_through_the_outbox(sim: WeChatSim, db, app) -> None:  # noqa: ANN001
    from bot.keys import PROCESSOR

    u = sim.user("oSlow")
    assert await u.send("慢") is None  # `success` after the timeout
    await app[PROCESSOR].drain()
    async with db() as s:
        row = await s.scalar(select(Outbox).where(Outbox.openid == "oSlow"))
        assert row is not None and row.payload["text"] == "终于好了" and row.purpose == "late_reply"
        member = await s.scalar(select(Member).where(Member.openid == "oSlow"))
        assert member.employer == "慢单位"  # its writes were committed
    assert await u.resend() is None  # a re-send doesn't run it again


async def test_failing_handler_rolls_back_and_apologises(sim: WeChatSim, db) -> None:  # noqa: ANN001
    u = sim.user("oBroken")
    await u.send("菜单")
    reply = await u.send("坏")
    assert "抱歉" in reply
    assert await u.resend() == reply  # the same apology, not a second run
    async with db() as s:
        member = await s.scalar(select(Member).where(Member.openid == "oBroken"))
        assert member.employer is None
    assert await count(db, Outbox, Outbox.key == "broken") == 0
    assert await count(db, InboundMessage, InboundMessage.status == "failed") == 1


async def test_follow_unfollow_menu_and_fallback(sim: WeChatSim, db) -> None:  # noqa: ANN001
    u = sim.user("oFan")
    welcome = await u.follow()
    assert "欢迎关注" in welcome and "【取消】" in welcome
    assert "自动回复助手" in await u.send("今天天气不错")
    assert await u.unfollow() is None
    async with db() as s:
        member = await s.scalar(select(Member).where(Member.openid == "oFan"))
        assert member.subscribed is False and member.unsubscribed_at is not None


async def test_click_mid_form_keeps_a_draft_and_resumes(sim: WeChatSim) -> None:
    u = sim.user("oDraft")
    await u.send("登记")
    await u.send("33")
    assert "正在填写示例登记" in await u.send("菜单")  # the menu keeps the form open
    reply = await u.send("13700137000")
    assert "城市" in reply
    # Cancel from the menu flow is not needed: a click restarts the same flow → resume.
    resumed = await u.click("SAMPLE")
    assert "接着来" in resumed and "城市" in resumed


async def test_expired_dialogue_says_so(sim: WeChatSim, clock) -> None:  # noqa: ANN001
    u = sim.user("oLate")
    await u.send("登记")
    clock.advance(hours=80)
    reply = await u.send("30")
    assert "超过保留时间" in reply


async def test_unknown_state_resets_politely(sim: WeChatSim, db, clock) -> None:  # noqa: ANN001
    u = sim.user("oOld")
    await u.send("菜单")
    async with db() as s, s.begin():
        s.add(Dialogue(app_id="", openid="oOld", state="gone:step", data={"d": {}}, version=1,
                       updated_at=clock.now(), expires_at=clock.now() + timedelta(days=1)))
    assert "流程已更新" in await u.send("随便")


def test_features_and_core_import_neither_wechatpy_nor_aiohttp() -> None:
    """Only the framework's wechat/ knows WeChat; a feature's admin pages (presentation) are the
    only feature modules that see aiohttp (admin.py, admin_<part>.py)."""
    import ast
    import pathlib

    root = pathlib.Path(__file__).resolve().parents[2]
    offenders = []
    for folder in ("handlers", "bot/core"):
        for path in (root / folder).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                banned = ("wechatpy",) if (path.name == "admin.py" or path.name.startswith("admin_")) and folder == "handlers" else ("wechatpy", "aiohttp")
                offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in banned]
    assert offenders == []


async def test_a_photo_outside_any_form_gets_a_helpful_answer(sim: WeChatSim) -> None:
    reply = await sim.user("oPhoto").image("MEDIA-X")
    assert "收到您的照片" in reply and "先帮您收着" in reply and "帮扶" in reply


async def test_a_second_form_started_by_click_keeps_the_first_as_a_draft(sim: WeChatSim) -> None:
    u = sim.user("oTwoForms")
    await u.send("登记")
    await u.send("29")  # the sample form now asks for the phone
    assert "第二个" in await u.click("SECOND")  # another flow starts; the first is kept
    assert "请直接回复备注" in await u.send("好的")  # an acknowledgement is not an answer
    assert "已提交" in await u.send("随便说一句")
    resumed = await u.send("登记")
    assert "还没填完" in resumed and "手机号" in resumed  # back where it stopped


class SecondForm(Form):
    flow = "second"
    title = "第二个表"
    fields = (Field("note", "这是第二个表，请随便说一句。", label="备注"),)
    confirm = False

    async def submit(self, ctx: Ctx, data: Mapping[str, Any]) -> str:
        return "第二个表已提交"


SecondForm.mount(router, start=click_is("SECOND"))


async def test_another_features_keyword_inside_a_form_goes_there_and_keeps_the_form(sim: WeChatSim) -> None:
    u = sim.user("oSwitch")
    await u.send("登记")
    assert "手机号" in await u.send("30")
    reply = await u.send("帮扶")  # hardship's keyword: its consent notice, not a phone-number hint
    assert "手机号好像不对" not in reply and "同意" in reply
    resumed = await u.send("登记")
    assert "还没填完" in resumed and "手机号" in resumed


async def test_a_keyword_that_only_answers_leaves_the_form_open(sim: WeChatSim) -> None:
    u = sim.user("oPeek")
    await u.send("登记")
    reply = await u.send("我的报名")
    assert "还没填完" in reply
    assert "手机号" in await u.send("30")  # the form goes on where it was


other = Router("other")


@other.on(text_is("清空") | click_is("CLEAR"))
async def clear_everything(ctx: Ctx) -> str:
    """A careless feature (keyword or menu click) that clears whatever dialogue is open."""
    ctx.dialogue.clear()
    return "好的"


@pytest.mark.parametrize("how", ["keyword", "click"])
async def test_a_careless_feature_cannot_lose_a_half_filled_form(make_app, engine, aiohttp_client, settings,
                                                                 clock, how) -> None:  # noqa: ANN001
    client = await aiohttp_client(make_app(extra_routers=[router, other]))
    u = WeChatSim(client, token=settings.wechat.token, clock=clock).user("oCareless")
    await u.send("登记")
    await u.send("30")
    reply = await (u.send("清空") if how == "keyword" else u.click("CLEAR"))
    assert "好的" in reply and "还没填完" in reply
    assert "城市" in await u.send("13800138000")  # the form went on from the phone question


async def test_starting_another_flow_inside_a_form_says_the_form_is_kept(sim: WeChatSim) -> None:
    u = sim.user("oTwoFlows")
    await u.send("登记")
    await u.send("30")
    reply = await u.send("帮扶")  # hardship opens its own dialogue (the consent step)
    assert "已为您保存" in reply
    assert "还没填完" in await u.send("登记")
