"""Sharper tests for handlers/hardship/ops.py (mutation group `ops-hardship`, half A): the staff
list's search and counts, the facts beside an inbox conversation, 代办 links and photos, and the
values staff type (amounts, dates) — what staff and workers would notice, on both databases."""
from __future__ import annotations

from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.db.models.core import Member, Outbox
from bot.db.models.hardship import HardshipEvent, HardshipPhoto, HardshipRequest
from bot.keys import SERVICES
from bot.operations import OpsContext
from handlers.hardship import ops
from tests.support.admin import create_staff_user, csrf_at, csrf_from, log_in_staff, login
from tests.support.fake_wechat import JPEG_BYTES
from tests.support.hardship import multipart, ops_ctx
from tests.support.inbox import add_member, add_thread, open_thread

TZ = ZoneInfo("Asia/Shanghai")
PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40
WEBP_BYTES = b"RIFF" + b"\x24\x00\x00\x00" + b"WEBPVP8 " + b"\x00" * 32
DATA = {"kind": "因病", "description": "母亲住院", "household": 2, "income": 3000.0, "expenses": 0.0,
        "name": "王小明", "phone": "13800138000", "employer": "环卫所", "id_number": None}


async def _add(db, app, *, openid: str = "", status: str = "submitted", community: str | None = None,  # noqa: ANN001
               assigned: int | None = None, **data) -> HardshipRequest:  # noqa: ANN003
    """A request as the worker (or 代办) submits it, then moved to `status` (the list reads rows)."""
    async with db() as s, s.begin():
        req = await ops.submit_request(s, ops_ctx(app), openid=openid, consent_version="2026-1",
                                       data={**DATA, "community": community, **data})
        req.status, req.assigned_staff_id = status, assigned
    return req


async def _search(db, q: str) -> list[str]:  # noqa: ANN001
    async with db() as s:
        rows = await s.scalars(ops.list_query(TZ).where(ops.search_clause(q)))
        return [r.ref for r in rows]


# --------------------------------------------------------------------------- the search box

async def test_a_full_reference_finds_that_request_only(db, app) -> None:  # noqa: ANN001
    for phone in ("13900000001", "13900000002", "13900000003"):
        await _add(db, app, phone=phone)
    assert await _search(db, "bf-2026-0002") == ["BF-2026-0002"]
    assert await _search(db, " BF-2026-000 ") == ["BF-2026-0003", "BF-2026-0002", "BF-2026-0001"]
    assert await _search(db, "BF-2027") == []


async def test_digits_find_a_phone_or_the_end_of_a_reference(db, app) -> None:  # noqa: ANN001
    await _add(db, app, phone="13900000017")
    await _add(db, app, phone="13900000099")
    assert await _search(db, "0002") == ["BF-2026-0002"]  # the reference's digits, no phone has them
    assert await _search(db, "0017") == ["BF-2026-0001"]  # a phone's digits
    assert await _search(db, "0000") == ["BF-2026-0002", "BF-2026-0001"]


async def test_a_name_search_takes_percent_and_underscore_literally(db, app) -> None:  # noqa: ANN001
    await _add(db, app, name="王小明")
    await _add(db, app, name="李_明", phone="13900000001")
    await _add(db, app, name="赵100%", phone="13900000002")
    assert await _search(db, "王_明") == []
    assert await _search(db, "_") == ["BF-2026-0002"]
    assert await _search(db, "%") == ["BF-2026-0003"]
    assert await _search(db, "小明") == ["BF-2026-0001"]


# --------------------------------------------------------------------------- counts and choices

async def test_my_open_count_counts_my_open_requests_of_every_community_or_one(db, app) -> None:  # noqa: ANN001
    me = await create_staff_user(db, "mine")
    other = await create_staff_user(db, "other")
    async with db() as s:
        assert await ops.my_open_count(s, me.id) == 0
    await _add(db, app, assigned=me.id, community="幸福社区")
    await _add(db, app, assigned=me.id, status="waiting")
    await _add(db, app, assigned=me.id, status="approved", community="和平社区")
    await _add(db, app, assigned=me.id, status="delivered")  # finished: not a to-do
    await _add(db, app, assigned=other.id)
    await _add(db, app)
    async with db() as s:
        assert await ops.my_open_count(s, me.id) == 3
        assert await ops.my_open_count(s, me.id, "幸福社区") == 1
        assert await ops.my_open_count(s, me.id, "无此社区") == 0
        assert await ops.my_open_count(s, other.id) == 1
        assert await ops.status_counts(s) == {"submitted": 3, "waiting": 1, "approved": 1, "delivered": 1}
        assert await ops.status_counts(s, "和平社区") == {"approved": 1}


async def test_erase_requests_are_counted_until_anonymised(db, app, clock) -> None:  # noqa: ANN001
    async with db() as s:
        assert await ops.erase_requested_count(s) == 0
    a = await _add(db, app, community="幸福社区")
    b = await _add(db, app)
    await _add(db, app)
    gone = await _add(db, app)
    async with db() as s, s.begin():
        for r in (a, b, gone):
            (await s.get(HardshipRequest, r.id)).erase_requested_at = clock.now()
        (await s.get(HardshipRequest, gone.id)).anonymised_at = clock.now()
    async with db() as s:
        assert await ops.erase_requested_count(s) == 2
        assert await ops.erase_requested_count(s, "幸福社区") == 1


async def test_communities_in_use_are_listed_once_in_order(db, app) -> None:  # noqa: ANN001
    for c in ("和平社区", None, "东风社区", "和平社区", "安居社区"):
        await _add(db, app, community=c)
    async with db() as s:
        assert await ops.communities_in_use(s) == sorted(["和平社区", "东风社区", "安居社区"])


async def test_list_rows_show_the_stored_mask_or_that_the_number_is_encrypted(db, app, clock) -> None:  # noqa: ANN001
    masked = await _add(db, app, id_number="11010519491231002X")
    old = await _add(db, app)
    none = await _add(db, app)
    async with db() as s, s.begin():
        r = await s.get(HardshipRequest, old.id)
        r.id_number_enc, r.id_number_masked = (await s.get(HardshipRequest, masked.id)).id_number_enc, None
    async with db() as s:
        reqs = [await s.get(HardshipRequest, i) for i in (masked.id, old.id, none.id)]
        rows = await ops.list_rows(s, ops_ctx(app), reqs)
    assert [row.id_masked for row in rows] == [masked.id_number_masked, "已加密", ""]
    assert masked.id_number_masked.startswith("110") and "002X" not in masked.id_number_masked[:-4]
    assert [row.unreachable for row in rows] == [False, False, False]


# --------------------------------------------------------------------------- the worker's requests

async def test_a_worker_lists_their_latest_ten_newest_first(db, app) -> None:  # noqa: ANN001
    for _ in range(11):
        await _add(db, app, openid="oW1", status="closed")
    await _add(db, app, openid="oOther", status="closed")
    async with db() as s:
        refs = [r.ref for r in await ops.worker_requests(s, "oW1")]
    assert refs == [f"BF-2026-{n:04d}" for n in range(11, 1, -1)]


async def test_staff_answering_a_worker_see_their_latest_three_requests(client, db, app, clock) -> None:  # noqa: ANN001
    await add_member(db, clock, "oW1", name="王小明")
    reqs = [await _add(db, app, openid="oW1", status=st) for st in ("closed", "rejected", "delivered", "approved")]
    await _add(db, app, openid="oOther", status="submitted")
    tid = await add_thread(db, clock, "oW1", [("worker", "请问帮扶什么时候发")])
    await create_staff_user(db, "helper", display_name="赵干事", roles=("inbox", "hardship"))
    await login(client, "helper")
    html, _ = await open_thread(client, tid)
    shown = [f'<span class="muted">困难帮扶</span> <a href="/admin/hardship/{r.id}">{r.ref} {label}</a>'
             for r, label in zip(reqs[::-1], ("已通过", "已发放", "未通过"))]
    assert all(s in html for s in shown), html
    assert html.index(shown[0]) < html.index(shown[1]) < html.index(shown[2])
    assert reqs[0].ref not in html and "BF-2026-0005" not in html
    # an inbox-only account does not read the worker's hardship requests
    await create_staff_user(db, "answerer", display_name="王干事", roles=("inbox",))
    await login(client, "answerer")
    html, _ = await open_thread(client, tid)
    assert "困难帮扶" not in html and reqs[-1].ref not in html


# --------------------------------------------------------------------------- small helpers

def test_self_check_text_without_a_dibao_and_within_a_tier() -> None:
    assert ops.SelfCheck(1234.5, None, "").text() == (
        "家庭人均月收入（扣除因困难产生的固定支出后）约 1234 元。能否获得帮扶，由工作人员审核后告诉您。")
    assert ops.SelfCheck(999.6, 1000.0, "深度困难").text() == (
        "家庭人均月收入（扣除因困难产生的固定支出后）约 1000 元，本地低保标准 1000 元/人·月。"
        "按这个测算，可能符合深度困难帮扶条件。这只是参考，以工作人员审核为准。")


def test_self_check_text_above_twice_the_dibao() -> None:
    assert ops.SelfCheck(2400.0, 1000.0, "").text() == (
        "家庭人均月收入（扣除因困难产生的固定支出后）约 2400 元，本地低保标准 1000 元/人·月。"
        "按这个测算，人均收入高于低保标准的2倍；这只是参考，工作人员审核时会结合您的具体困难综合考虑。")


def test_correction_labels() -> None:
    assert ops.correction_label("reopen", "approved") == "撤回「审核通过」，改回「审核中」"
    assert ops.correction_label("reopen", "rejected") == "撤回「不予通过」，改回「审核中」"
    assert ops.correction_label("reopen", "delivered") == "撤回决定，改回「审核中」"
    for kind in ("undo_delivery", "fix_delivery", "reopen_closed"):
        for status in ("approved", "rejected", "delivered", "closed"):
            assert ops.correction_label(kind, status) == ops.CORRECTIONS[kind][1]


class _Crypto:
    def __init__(self, plain: str | None) -> None:
        self.plain = plain

    def decrypt(self, _token: bytes) -> str | None:
        return self.plain


def test_reveal_id_is_empty_without_a_number() -> None:
    req = HardshipRequest(id_number_enc=None)
    assert ops.reveal_id(req, _Crypto("x")) == ""
    req = HardshipRequest(id_number_enc=b"token")
    assert ops.reveal_id(req, _Crypto(None)) == ""
    assert ops.reveal_id(req, _Crypto("11010519491231002X")) == "11010519491231002X"


async def test_staff_name(db) -> None:  # noqa: ANN001
    named = await create_staff_user(db, "named", display_name="张干事")
    plain = await create_staff_user(db, "plain", display_name="")
    async with db() as s:
        assert await ops.staff_name(s, named.id) == "张干事"
        assert await ops.staff_name(s, plain.id) == "plain"
        assert await ops.staff_name(s, None) == ""
        assert await ops.staff_name(s, plain.id + 100) == ""


@pytest.mark.parametrize(("raw", "value"), [
    ("", None), ("  元 ", None), ("500", 500.0), ("1,200", 1200.0), ("1 200", 1200.0), ("1，200.5", 1200.5), ("¥300", 300.0),
    ("￥ 300 元", 300.0), ("0", 0.0), ("0.01", 0.01), ("100000", 100000.0), ("100,000.00元", 100000.0),
])
def test_parse_amount_accepts(raw: str, value: float | None) -> None:
    assert ops.parse_amount(raw) == value


@pytest.mark.parametrize(("raw", "message"), [
    ("元500", "发放金额「元500」不是一个数字，请填写例如 500 或 500.50。"),
    ("五百", "发放金额「五百」不是一个数字，请填写例如 500 或 500.50。"),
    ("nan", "发放金额「nan」不是一个数字，请填写例如 500 或 500.50。"),
    ("12345678901234567890x", "发放金额「12345678901234567890」不是一个数字，请填写例如 500 或 500.50。"),
    ("-0.01", "发放金额不能是负数。"),
    ("100000.01", "发放金额不能超过 100,000 元，请核对是否多打了数字。"),
    ("0.001", "发放金额最多保留两位小数（到分）。"),
    ("1e309", "发放金额不能超过 100,000 元，请核对是否多打了数字。"),
])
def test_parse_amount_refuses(raw: str, message: str) -> None:
    with pytest.raises(ops.HardshipError) as exc:
        ops.parse_amount(raw)
    assert str(exc.value) == message


def test_parse_day() -> None:
    assert ops.parse_day(" 2026-11-24 ") == date(2026, 11, 24)
    assert ops.parse_day("  ") is None
    with pytest.raises(ops.HardshipError) as exc:
        ops.parse_day("2026年11月24日下午三点左右吧大概吧")
    assert str(exc.value) == "日期「2026年11月24日下午三点左右吧大概」不是有效的日期，请用日期选择框或按 2026-11-24 的格式填写。"


# --------------------------------------------------------------------------- 代办: the follower to link

async def _follower(db, clock, openid: str, phone: str | None, name: str | None,  # noqa: ANN001
                    community: str | None = None) -> None:
    async with db() as s, s.begin():
        s.add(Member(openid=openid, first_seen=clock.now(), last_seen=clock.now(), phone=phone, name=name,
                     community=community))


async def test_find_link_by_phone_and_openid_within_the_accounts_community(db, clock) -> None:  # noqa: ANN001
    await _follower(db, clock, "oA", "13700001111", "王 小明", community="幸福社区")
    await _follower(db, clock, "oB", None, None, community="和平社区")
    await _follower(db, clock, "oT1", "13700002222", "吴六")
    await _follower(db, clock, "oT2", "13700002222", "吴六")
    async with db() as s:
        match, note = await ops.find_link(s, openid="", phone="13700001111", name="王小 明 ")
        assert (match.openid, match.by, match.name, match.phone_masked, match.name_mismatch, note) == (
            "oA", "phone", "王 小明", "137****1111", False, "")
        match, note = await ops.find_link(s, openid="", phone="13700001111", name="王晓明", community="幸福社区")
        assert (match.openid, match.name_mismatch, note) == ("oA", True, "")
        assert await ops.find_link(s, openid="", phone="13700001111", name="王小明", community="和平社区") == (None, "")
        assert await ops.find_link(s, openid="", phone="", name="王小明") == (None, "")
        assert await ops.find_link(s, openid="", phone="13700009999", name="王小明") == (None, "")
        assert await ops.find_link(s, openid="", phone="13700002222", name="吴六") == (
            None, "这个手机号对应多位微信用户，无法确定是哪一位，本次不关联微信。")
        match, note = await ops.find_link(s, openid="oB", phone="13700001111", name="王小明")
        assert (match.openid, match.by, match.name, match.phone_masked, match.name_mismatch, note) == (
            "oB", "openid", "", "", False, "")
        with pytest.raises(ops.HardshipError) as exc:
            await ops.find_link(s, openid="oB", phone="", name="王小明", community="幸福社区")
        assert str(exc.value) == ops.NO_FOLLOWER


async def test_submit_on_behalf_refuses_an_unknown_follower(db, app) -> None:  # noqa: ANN001
    async with db() as s, s.begin():
        with pytest.raises(ops.HardshipError) as exc:
            await ops.submit_on_behalf(s, ops_ctx(app, staff_id=None), openid="oNobody", data=DATA)
    assert str(exc.value) == ops.NO_FOLLOWER
    async with db() as s:
        assert list(await s.scalars(select(HardshipRequest))) == []


# --------------------------------------------------------------------------- 代办: photos

@pytest.mark.parametrize(("data", "ctype"), [
    (JPEG_BYTES, "image/jpeg"), (PNG_BYTES, "image/png"), (WEBP_BYTES, "image/webp"),
    (b"\xff\xd8", ""), (b"\xff\xd8\xfe" + JPEG_BYTES[3:], ""), (PNG_BYTES[:7] + b"\x00" + PNG_BYTES[8:], ""),
    (b"\x89png\r\n\x1a\n" + b"\x00" * 8, ""),
    (b"RIFF" + b"\x00" * 4 + b"WAVE" + b"\x00" * 8, ""), (b"RIFX" + b"\x00" * 4 + b"WEBP" + b"\x00" * 8, ""),
    (b"riff" + b"\x00" * 4 + b"webp" + b"\x00" * 8, ""), (b"GIF89a" + b"\x00" * 20, ""),
])
def test_photo_type_by_the_first_bytes(data: bytes, ctype: str) -> None:
    assert ops.photo_type(data) == ctype


def test_check_photo_names_the_file_and_what_is_wrong() -> None:
    long = "现场照片" * 10 + "_屋顶.jpg"
    assert ops.check_photo("a.jpg", JPEG_BYTES) == ops.UploadedPhoto(JPEG_BYTES, "image/jpeg")
    assert ops.check_photo("", WEBP_BYTES) == ops.UploadedPhoto(WEBP_BYTES, "image/webp")
    full = b"\xff\xd8\xff" + b"\x00" * (ops.MAX_PHOTO_BYTES - 3)
    assert ops.check_photo("full.jpg", full).data == full
    cases = [("空.jpg", b"", "「空.jpg」是空文件，请重新选择。"),
             ("", b"", "这张照片是空文件，请重新选择。"),
             ("big.jpg", full + b"\x00", "「big.jpg」超过了 5 MB，请压缩后再上传。"),
             (long, b"hello", f"「{long[-40:]}」不是 JPG、PNG 或 WEBP 格式的照片，请换一张（手机拍的照片一般是 JPG）。"),
             ("", b"hello", "这张照片不是 JPG、PNG 或 WEBP 格式的照片，请换一张（手机拍的照片一般是 JPG）。")]
    for name, data, message in cases:
        with pytest.raises(ops.HardshipError) as exc:
            ops.check_photo(name, data)
        assert str(exc.value) == message




FORM = {"kind": "因灾", "description": "入户走访：台风损毁房屋", "household": "2", "income": "1800", "expenses": "0",
        "name": "吴六", "phone": "13700001111", "employer": "某物业公司", "id_number": "", "openid": "", "consent": "1"}


async def test_photos_uploaded_with_a_proxy_request_are_stored_as_evidence(client, db, app, clock) -> None:  # noqa: ANN001
    await log_in_staff(client, db)
    token = await csrf_at(client, "/admin/hardship/new")
    resp = await client.post("/admin/hardship/new", data=multipart(token, FORM, [("空.jpg", b"", "image/jpeg")]))
    assert resp.status == 400 and "「空.jpg」是空文件，请重新选择。" in await resp.text()
    files = [("房屋.jpg", JPEG_BYTES, "image/jpeg"), ("屋顶.png", PNG_BYTES, "image/png"),
             ("门口.webp", WEBP_BYTES, "image/webp")]
    page = await (await client.post("/admin/hardship/new", data=multipart(csrf_from(await resp.text()), FORM, files))).text()
    assert "已代办录入：BF-2026-0001（未关联微信，进度请电话告知本人，附照片 3 张）" in page
    async with db() as s:
        req = (await s.scalars(select(HardshipRequest))).one()
        photos = list(await s.scalars(select(HardshipPhoto).order_by(HardshipPhoto.id)))
        events = list(await s.scalars(select(HardshipEvent).where(HardshipEvent.request_id == req.id)
                                      .order_by(HardshipEvent.id)))
        staff_id = req.created_by_staff_id
    assert staff_id is not None
    assert [(p.media_id, p.status, p.content_type, p.path) for p in photos] == [
        ("", "fetched", ctype, f"hardship/{req.id}/{p.id}{ext}")
        for p, ctype, ext in zip(photos, ("image/jpeg", "image/png", "image/webp"), (".jpg", ".png", ".webp"))]
    assert all(p.created_at == clock.now() and p.fetched_at == clock.now() for p in photos)
    media = Path(app[SERVICES]["media_dir"])
    assert [(media / p.path).read_bytes() for p in photos] == [JPEG_BYTES, PNG_BYTES, WEBP_BYTES]
    assert sorted(f.name for f in (media / "hardship" / str(req.id)).iterdir()) == sorted(
        Path(p.path).name for p in photos)  # no half-written .part file left
    assert [(e.action, e.actor, e.staff_id, e.internal, e.detail, e.at) for e in events] == [
        ("submit_for", "staff", staff_id, False, {}, clock.now()),
        ("photos", "staff", staff_id, True, {"photos": 3}, clock.now())]
    assert page.count("工作人员代办上传") == 3
    resp = await client.get(f"/admin/hardship/photo/{photos[2].id}")
    assert resp.status == 200 and await resp.read() == WEBP_BYTES
    async with db() as s:
        assert list(await s.scalars(select(Outbox))) == []


async def test_attach_photos_limit_and_the_default_folder(db, app, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    staff = await create_staff_user(db, "staff9")
    monkeypatch.chdir(tmp_path)
    ctx = ops_ctx(app, staff_id=staff.id, media_dir=str(tmp_path / "configured"))
    ctx_default = OpsContext(ctx.clock, ctx.settings, {k: v for k, v in ctx.services.items() if k != "media_dir"},
                             staff_id=staff.id)  # no media folder configured: data/media
    nine = [ops.UploadedPhoto(JPEG_BYTES, "image/jpeg")] * ops.MAX_PHOTOS
    async with db() as s, s.begin():
        req = await ops.submit_on_behalf(s, ctx, openid="", data=DATA)
        with pytest.raises(ops.HardshipError) as exc:
            await ops.attach_photos(s, ctx, req, nine + nine[:1])
        assert str(exc.value) == "一份申请最多上传 9 张照片。"
        await ops.attach_photos(s, ctx, req, [])
        assert [e.action for e in req.events] == ["submit_for"]
        await ops.attach_photos(s, ctx_default, req, nine)
        paths = [p.path for p in req.photos]
    assert len(paths) == 9
    assert all((tmp_path / "data" / "media" / p).read_bytes() == JPEG_BYTES for p in paths)
    other = tmp_path / "elsewhere"
    async with db() as s, s.begin():
        req2 = await ops.submit_on_behalf(s, ops_ctx(app, staff_id=staff.id, media_dir=str(other)), openid="",
                                          data=DATA, photos=[ops.UploadedPhoto(PNG_BYTES, "image/png")])
        [p] = req2.photos
    assert (other / p.path).read_bytes() == PNG_BYTES and p.path == f"hardship/{req2.id}/{p.id}.png"
    assert not (tmp_path / "data" / "media" / p.path).exists()
