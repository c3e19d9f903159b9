"""Conversations with real people, through the signed webhook: voice (「。」), everyday
numbers (三口人, 三千五, 没有), polite wrappers, photos at odd moments, command words that are
never stored, plausibility questions, cross-field checks on every path, kept drafts and
WeChat's reply size limit."""
from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select

from bot.core.dispatcher import PASSIVE_LIMIT, split_text
from bot.core.normalize import NotANumber, fold, parse_choice_number, parse_number, variants
from bot.core.router import Router, text_is
from bot.db.models.core import Outbox
from bot.db.models.hardship import HardshipPhoto, HardshipRequest
from bot.operations import OpsContext
from handlers.chairs import ops as chairs_ops
from handlers.chairs.quarters import Quarter

DESCRIPTION = "母亲住院做手术，自付医药费很多，家里收入只靠我一人。"


# ------------------------------------------------------------------------------- the normaliser

@pytest.mark.parametrize(("said", "value", "approx"), [
    ("3", 3, False), ("３", 3, False), ("三", 3, False), ("三口人", 3, False), ("3口人", 3, False),
    ("两个人", 2, False), ("三千五", 3500, False), ("三千五百元", 3500, False), ("4500元", 4500, False),
    ("3,500", 3500, False), ("1.2万", 12000, False), ("一万二", 12000, False), ("十二家", 12, False),
    ("约3000", 3000, True), ("3000左右", 3000, True), ("大概3000", 3000, True), ("三千多", 3000, True),
    ("每月三千五。", 3500, False), ("没有", 0, False), ("无", 0, False), ("零", 0, False), ("3千", 3000, False),
])
def test_numbers_as_people_say_them(said: str, value: int, approx: bool) -> None:
    n = parse_number(said, ("元", "人", "口人", "口", "家", "个人"))
    assert (n.value, n.approx) == (value, approx)


@pytest.mark.parametrize("said", ["很多", "不知道", "-3", "1e309", "inf", "nan", "3000-4000", ""])
def test_what_is_not_a_number_stays_not_a_number(said: str) -> None:
    with pytest.raises(NotANumber):
        parse_number(said, ("元",))


@pytest.mark.parametrize(("said", "folded"), [
    ("帮扶。", "帮扶"), ("  帮扶 ！", "帮扶"), ("同意。", "同意"), ("确认？", "确认"), ("ＡＢ", "AB"),
    ("「报名」", "报名"), ("?", "?"),
])
def test_fold_drops_voice_punctuation_and_full_width(said: str, folded: str) -> None:
    assert fold(said) == folded


@pytest.mark.parametrize(("said", "keyword"), [
    ("我要申请帮扶", "帮扶"), ("我想报名", "报名"), ("申请报名", "报名"), ("取消一下", "取消"),
    ("请帮我查一下成绩", "查一下成绩"), ("答题吧", "答题"),
    ("我想查一下我的申请", "我的申请"), ("帮我看看我的报名。", "我的报名"), ("查下我的成绩吧", "我的成绩"),
    ("查一下成绩吧", "我的成绩"),
])
def test_polite_wrappers_around_keywords(said: str, keyword: str) -> None:
    assert keyword in variants(said)


def test_looking_up_is_looking_up_one_s_own() -> None:
    assert "报名" not in variants("查看报名")  # my sign-ups, not 「报名」 (signing up)
    assert variants("看我的") == {"看我的"} and variants("看看") == {"看看"}  # nothing to look up


@pytest.mark.parametrize(("said", "answer"), [
    ("我想查一下我的申请", "您还没有提交过帮扶申请"), ("帮我看看我的报名", "您目前没有待参加的报名"),
    ("查下我的成绩吧。", "还没有参加过答题"), ("查一下成绩吧", "还没有参加过答题"), ("看一下报名", "您目前没有待参加的报名"),
    ("查询帮扶", "您还没有提交过帮扶申请"),
])
async def test_asking_to_look_up_one_s_own_records_is_understood(sim, db, said: str, answer: str) -> None:  # noqa: ANN001
    reply = await sim.user("oLookUp").send(said)
    assert answer in reply and "已转给工作人员" not in reply


@pytest.mark.parametrize(("said", "n"), [("2", 2), ("二", 2), ("第二个", 2), ("选2", 2), ("2号", 2),
                                         ("二。", 2), ("B", None), ("帮扶", None)])
def test_picking_from_a_list(said: str, n: int | None) -> None:
    assert parse_choice_number(said) == n


# ------------------------------------------------------------------------------- hardship by voice

async def say(u, text: str, voice: bool) -> str:  # noqa: ANN001
    """Voice recognition ends a sentence with 「。」: send it that way, or typed."""
    if voice:
        return await u.voice(recognition=text + "。")
    return await u.send(text)


async def requests(db) -> list[HardshipRequest]:  # noqa: ANN001
    async with db() as s:
        return list(await s.scalars(select(HardshipRequest).order_by(HardshipRequest.id)))


@pytest.mark.parametrize("voice", [True, False], ids=["voice", "typed"])
async def test_an_application_in_everyday_words(sim, db, voice: bool) -> None:  # noqa: ANN001
    u = sim.user(f"oEveryday{voice}")
    assert "同意" in await say(u, "我要申请帮扶", voice)
    assert "困难类型" in await say(u, "同意", voice)
    assert "说明困难情况" in await say(u, "一", voice)  # 一 picks the first type
    assert "几人" in await say(u, DESCRIPTION, voice)
    assert "总收入" in await say(u, "三口人", voice)
    assert "多花多少钱" in await say(u, "三千五左右", voice)
    assert "姓名" in await say(u, "没有", voice)  # the prompt itself says 没有请回复 0
    assert "手机号" in await say(u, "王小明", voice)
    assert "工作单位" in await say(u, "13800138000", voice)
    assert "身份证" in await say(u, "街道环卫所", voice)
    assert "证明材料" in await say(u, "跳过", voice)
    summary = await say(u, "跳过", voice)
    assert "家庭人口：3 人" in summary and "家庭月收入：3500 元" in summary and "困难固定支出：0 元/月" in summary
    assert "BF-2026-0001" in await say(u, "确认", voice)
    [req] = await requests(db)
    assert (req.household_size, req.monthly_income, req.fixed_expenses, req.name) == (3, 3500, 0, "王小明")


async def start_to_name(u) -> None:  # noqa: ANN001
    for text in ("帮扶", "同意", "1", DESCRIPTION, "3", "4500", "1500"):
        await u.send(text)


@pytest.mark.parametrize(("word", "hint"), [
    ("确认", "操作用语"), ("完成", "操作用语"), ("沿用", "没有可以沿用"), ("跳过", "不能跳过"),
    ("好的", "真实姓名"), ("😀😀", "真实姓名"), ("张三3", "真实姓名"),
])
async def test_command_words_and_non_names_are_never_stored_as_a_name(sim, db, word: str, hint: str) -> None:  # noqa: ANN001
    u = sim.user("oReserved")
    await start_to_name(u)
    reply = await u.send(word)
    assert hint in reply and "姓名" in reply
    assert "手机号" in await u.send("王小明")  # the real answer goes through


async def test_employer_confirm_is_not_an_employer(sim) -> None:  # noqa: ANN001
    u = sim.user("oEmployer")
    await start_to_name(u)
    await u.send("王小明")
    await u.send("13800138000")
    assert "操作用语" in await u.send("确认")
    assert "没有可以沿用" in await u.send("沿用")
    assert "身份证" in await u.send("街道环卫所")


async def test_a_surprising_income_is_asked_about_not_refused(sim, db) -> None:  # noqa: ANN001
    u = sim.user("oPlausible")
    for text in ("帮扶", "同意", "1", DESCRIPTION):
        await u.send(text)
    await u.send("6")
    reply = await u.send("2")
    assert "家庭月收入 2 元，对吗？" in reply
    assert "家庭月收入 2000 元，对吗" not in (await u.send("2000"))  # a corrected answer is taken
    # ...and a confirmed surprising one is kept
    u2 = sim.user("oPlausible2")
    for text in ("帮扶", "同意", "1", DESCRIPTION, "6", "2"):
        await u2.send(text)
    assert "多花多少钱" in await u2.send("对")


# ------------------------------------------------------------------------------- photos

async def fill_to_photos(u) -> None:  # noqa: ANN001
    await start_to_name(u)
    for text in ("王小明", "13800138000", "街道环卫所", "跳过"):
        await u.send(text)


async def photo_ids(db) -> list[str]:  # noqa: ANN001
    async with db() as s:
        return [p.media_id for p in await s.scalars(select(HardshipPhoto).order_by(HardshipPhoto.id))]


async def test_photos_at_a_text_step_and_at_the_summary_are_kept_and_said_so(sim, db) -> None:  # noqa: ANN001
    u = sim.user("oPhotos")
    for text in ("帮扶", "同意", "1"):
        await u.send(text)
    reply = await u.image("EARLY")  # at the description step
    assert "照片收到了" in reply and "共 1 张" in reply and "说明困难情况" in reply
    for text in (DESCRIPTION, "3", "4500", "1500", "王小明", "13800138000", "街道环卫所", "跳过"):
        await u.send(text)
    await u.image("AT-STEP")
    summary = await u.send("完成")
    assert "证明材料：2 张照片" in summary
    reply = await u.image("AT-SUMMARY")
    assert "已添加到证明材料（共 3 张）" in reply and "证明材料：3 张照片" in reply
    await u.send("确认")
    assert await photo_ids(db) == ["EARLY", "AT-STEP", "AT-SUMMARY"]


async def test_a_photo_before_consent_is_not_kept_and_said_so(sim, db) -> None:  # noqa: ANN001
    u = sim.user("oPhotoEarly")
    await u.send("帮扶")
    reply = await u.image("NO-CONSENT")
    assert "没有保存" in reply and "同意" in reply


async def test_editing_photos_asks_add_or_replace(sim, db) -> None:  # noqa: ANN001
    u = sim.user("oPhotoEdit")
    await fill_to_photos(u)
    await u.image("P1")
    await u.image("P2")
    await u.send("完成")
    await u.send("修改")
    reply = await u.send("10")  # 证明材料
    assert "现有 2 张" in reply and "添加" in reply and "重新上传" in reply
    await u.send("添加")
    await u.image("P3")
    assert "证明材料：3 张照片" in await u.send("完成")
    await u.send("修改")
    await u.send("10")
    assert "重新发送" in await u.send("重新上传")
    await u.image("P4")
    assert "证明材料：1 张照片" in await u.send("完成")
    await u.send("确认")
    assert await photo_ids(db) == ["P4"]


async def test_text_at_the_photo_step_is_answered_not_silently_dropped(sim) -> None:  # noqa: ANN001
    u = sim.user("oPhotoText")
    await fill_to_photos(u)
    reply = await u.send("发票在家里")
    assert "没有保存" in reply and "跳过" in reply


# ------------------------------------------------------------------------------- 补充

async def submitted(u, db):  # noqa: ANN001, ANN201
    await fill_to_photos(u)
    await u.send("跳过")
    await u.send("确认")
    [req] = await requests(db)
    return req


async def test_supplement_collects_text_voice_and_photos_until_done(sim, db) -> None:  # noqa: ANN001
    u = sim.user("oMore")
    req = await submitted(u, db)
    assert "请补充申请 BF-2026-0001" in await u.send("补充材料")
    assert "1 段文字" in await u.send("发票下周才能开出来")
    assert "1 张照片" in await u.image("M1")
    assert "2 段文字" in await u.voice(recognition="这是住院押金的收据。")
    assert "2 张照片" in await u.image("M2")
    done = await u.send("完成")
    assert "2 段文字、2 张照片" in done and "BF-2026-0001" in done
    assert await photo_ids(db) == ["M1", "M2"]
    async with db() as s:
        req = await s.get(HardshipRequest, req.id)
        events = [e for e in req.events if e.action == "material"]
    assert [e.text for e in events if e.text] == ["发票下周才能开出来", "这是住院押金的收据。"]


async def test_supplement_pieces_are_saved_even_when_the_worker_walks_away(sim, db) -> None:  # noqa: ANN001
    u = sim.user("oMoreAway")
    await submitted(u, db)
    await u.send("补充")
    await u.image("KEPT")
    await u.send("答题")  # goes elsewhere without 完成
    assert await photo_ids(db) == ["KEPT"]


# ------------------------------------------------------------------------------- drafts and detours

async def test_a_detour_says_how_to_come_back(sim) -> None:  # noqa: ANN001
    u = sim.user("oDetour")
    for text in ("帮扶", "同意", "1"):
        await u.send(text)
    reply = await u.send("报名")
    assert "回复「帮扶」就能接着填" in reply or "直接回复就能接着填" in reply
    reply = await u.send("帮扶")
    assert "接着" in reply and "说明困难情况" in reply


async def test_a_quiz_answer_detour_keeps_the_hardship_draft_and_says_so(sim) -> None:  # noqa: ANN001
    u = sim.user("oDetour2")
    for text in ("帮扶", "同意", "1"):
        await u.send(text)
    reply = await u.send("删除我的信息")
    assert "确认删除" in reply
    reply = await u.send("取消")
    assert "没有删除任何信息" in reply and "回复「帮扶」就能接着填" in reply


# ------------------------------------------------------------------------------- chairs correction

async def bound_chair(sim, db, clock, settings):  # noqa: ANN001, ANN201
    clock.set(datetime(2026, 12, 5, 10, 0))
    async with db() as s, s.begin():
        chair = await chairs_ops.add_chair(s, OpsContext(clock, settings), name="李主席", organisation="幸福社区联合工会",
                                          community="幸福社区", mobile="13900000001")
        code, _ = await chairs_ops.issue_bind_code(s, OpsContext(clock, settings), chair.id)
    await sim.user("oChairC").send(f"绑定 {code}")
    return chair


async def test_a_chair_correction_that_breaks_a_check_returns_to_the_figures(sim, db, clock, settings) -> None:  # noqa: ANN001
    chair = await bound_chair(sim, db, clock, settings)
    u = sim.user("oChairC")
    await u.send("报送")
    for a in ("20", "15", "10", "8", "3", "无", "本季度工作正常开展。"):
        await u.send(a)
    await u.send("确认")
    await u.send("报送")
    assert "已建立工会" in await u.send("十")  # enterprises corrected 20 → 10
    reply = await u.send("沿用")  # unionised 15 kept: now more than the 10 enterprises
    assert "不能多于" in reply and "已建立工会" in reply and "沿用" in reply
    await u.send("10")
    for _ in range(5):
        reply = await u.send("沿用")
    assert "请核对" in reply and "25人以上企业：10家" in reply and "已建会企业：10家" in reply
    # 修改 a figure so that it contradicts another: asked again, the form never ends
    await u.send("修改")
    await u.send("2")  # 已建会企业
    reply = await u.send("5")  # fewer than the 10 with wage agreements
    assert "不能多于" in reply and "已建立工会" in reply
    assert "请核对" in await u.send("10")
    assert "已更新" in await u.send("确认")
    async with db() as s:
        rep = await chairs_ops.report_for(s, chair.id, Quarter(2026, 4))
    assert (rep.enterprises, rep.unionised) == (10, 10)


# ------------------------------------------------------------------------------- reply size

def test_split_text_keeps_every_character_within_the_limit() -> None:
    text = "\n".join("第%d行：" % i + "很长的内容" * 30 for i in range(40)) + "\n" + "无换行" * 900
    parts = split_text(text, 1000)
    assert all(len(p.encode()) <= 1000 for p in parts)
    assert "".join(parts).replace("\n", "") == text.replace("\n", "")


async def test_every_reply_of_a_maximal_application_fits_wechats_limit(sim, db) -> None:  # noqa: ANN001
    u = sim.user("oLongest")
    long_text = "因病" * 250  # 500 characters, the most a description may have
    replies = [await u.send(t) for t in ("帮扶", "同意", "1", long_text, "20", "999999", "999999", "对",
                                         "阿依古丽·买买提江阿布都热依木", "13800138000", "某" * 60, "跳过")]
    for i in range(9):
        replies.append(await u.image(f"P{i}"))
    replies.append(await u.send("完成"))
    assert "请核对" in replies[-1] and "……（共500字）" in replies[-1]
    replies += [await u.send("修改"), await u.send("上一步"), await u.send("我的申请")]
    assert all(len(r.encode()) <= PASSIVE_LIMIT for r in replies)


long_router = Router("long")


@long_router.on(text_is("长回复"))
async def long_reply(ctx) -> str:  # noqa: ANN001
    return "\n".join(f"{i}. " + "很长的一行说明文字" * 20 for i in range(40))


async def test_a_longer_reply_is_cut_and_the_rest_follows_through_the_outbox(make_app, engine, aiohttp_client,
                                                                             settings, clock) -> None:  # noqa: ANN001
    from bot.keys import SESSIONMAKER
    from bot.wechat.simulator import WeChatSim

    app = make_app(extra_routers=[long_router])
    client = await aiohttp_client(app)
    sim = WeChatSim(client, path=settings.server.webhook_path, token=settings.wechat.token, clock=clock)
    reply = await sim.user("oLong").send("长回复")
    assert len(reply.encode()) <= PASSIVE_LIMIT and "余下部分随后发给您" in reply
    async with app[SESSIONMAKER]() as s:
        rest = list(await s.scalars(select(Outbox).where(Outbox.openid == "oLong").order_by(Outbox.id)))
    texts = [r.payload["text"] for r in rest]
    assert texts and all(len(t.encode()) <= PASSIVE_LIMIT for t in texts)
    assert texts[-1].endswith("39. " + "很长的一行说明文字" * 20)


async def test_walkthrough_finds_spoken_phone_voice_full_stop_and_photo_at_the_edit_menu(sim, db) -> None:  # noqa: ANN001
    """Found by walking through `unionbot chat` with /voice: a phone number read digit by digit,
    an employer stored with voice's 「。」, a photo sent while choosing what to change."""
    u = sim.user("oWalk")
    await start_to_name(u)
    await u.voice(recognition="王小明。")
    assert "工作单位" in await u.voice(recognition="幺三八零零幺三八零零零。")
    await u.voice(recognition="环卫所。")
    await u.send("跳过")
    summary = await u.send("跳过")
    assert "手机号：13800138000" in summary and "工作单位：环卫所\n" in summary
    assert "要修改的项目序号" in await u.send("修改")
    reply = await u.image("AT-EDIT")
    assert "已添加到证明材料（共 1 张）" in reply and "请核对" in reply
    assert "不修改了" in (await u.send("修改") and await u.voice(recognition="确认。"))
    await u.send("确认")
    [req] = await requests(db)
    assert (req.phone, req.employer) == ("13800138000", "环卫所")
    assert await photo_ids(db) == ["AT-EDIT"]
