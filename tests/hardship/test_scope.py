"""Community scope of hardship requests: a community union's account sees and acts only on its
community's requests (list, detail, actions, export, photos); the federation's accounts see all;
the worker names their community in the dialogue (when [federation] communities is set)."""
from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.db.models.core import AuditLog, Member
from bot.db.models.hardship import HardshipPhoto, HardshipRequest
from bot.keys import SERVICES
from bot.wechat.simulator import WeChatSim
from handlers.hardship import ops
from tests.support.admin import DEFAULT_PASSWORD, create_staff_user, csrf_at, login
from tests.support.hardship import ID_NUMBER, ops_ctx
from tests.support.settings import make_settings

A, B = "幸福社区", "和平社区"


@pytest.fixture
def settings(db_url, tmp_path):  # noqa: ANN001, ANN201
    return make_settings(db_url, tmp_path, federation={"communities": [A, B]})


async def seed(db, app, openid: str, name: str, phone: str, community: str | None) -> HardshipRequest:  # noqa: ANN001
    async with db() as s, s.begin():
        s.add(Member(openid=openid, first_seen=ops_ctx(app).now, last_seen=ops_ctx(app).now))
        await s.flush()
        req = await ops.submit_request(
            s, ops_ctx(app), openid=openid, consent_version="2026-1",
            data={"kind": "因病", "description": "母亲住院做手术，自付医药费很多。", "household": 3, "income": 4500,
                  "expenses": 1500, "name": name, "phone": phone, "employer": "环卫所", "photos": ["M1"],
                  "community": community})
        photo = req.photos[0]
        photo.status, photo.path, photo.content_type = "fetched", f"{openid}.jpg", "image/jpeg"
    media = Path(app[SERVICES]["media_dir"])
    media.mkdir(parents=True, exist_ok=True)
    (media / f"{openid}.jpg").write_bytes(b"\xff\xd8" + openid.encode())
    return req


async def three_requests(db, app) -> tuple[HardshipRequest, HardshipRequest, HardshipRequest]:  # noqa: ANN001
    ra = await seed(db, app, "oA", "张幸福", "13800000001", A)
    rb = await seed(db, app, "oB", "李和平", "13800000002", B)
    rn = await seed(db, app, "oN", "王无名", "13800000003", None)
    return ra, rb, rn


async def photo_of(db, req: HardshipRequest) -> int:  # noqa: ANN001
    async with db() as s:
        return await s.scalar(select(HardshipPhoto.id).where(HardshipPhoto.request_id == req.id))


async def status_of(db, req: HardshipRequest) -> str:  # noqa: ANN001
    async with db() as s:
        return (await s.get(HardshipRequest, req.id)).status


async def test_community_account_sees_and_acts_on_its_own_requests_only(client, db, app):  # noqa: ANN001
    ra, rb, rn = await three_requests(db, app)
    await create_staff_user(db, "xingfu", roles=("hardship",), community=A)
    await login(client, "xingfu", DEFAULT_PASSWORD)

    # the list (and its community filter can't widen it)
    page = await (await client.get("/admin/hardship")).text()
    assert ra.ref in page and rb.ref not in page and rn.ref not in page and "李和平" not in page
    page = await (await client.get(f"/admin/hardship?community={B}")).text()
    assert rb.ref not in page
    page = await (await client.get("/admin/hardship?community=none")).text()
    assert rn.ref not in page

    # details: another community's request answers exactly as one that doesn't exist
    assert (await client.get(f"/admin/hardship/{ra.id}")).status == 200
    missing = await client.get("/admin/hardship/999999")
    other = await client.get(f"/admin/hardship/{rb.id}")
    unset = await client.get(f"/admin/hardship/{rn.id}")
    assert missing.status == other.status == unset.status == 404
    assert await missing.text() == await other.text() == await unset.text()

    # photos
    assert (await client.get(f"/admin/hardship/photo/{await photo_of(db, ra)}")).status == 200
    resp = await client.get(f"/admin/hardship/photo/{await photo_of(db, rb)}")
    # not the file (its bytes are \xff\xd8 + the openid); a bare b"oB" also matched the page's random CSRF token
    assert resp.status == 404 and b"\xff\xd8oB" not in await resp.read()

    # the export holds its own community's rows only
    table = list(csv.reader(io.StringIO((await (await client.get("/admin/hardship/export.csv")).read())
                                        .decode("utf-8-sig"))))
    assert [r[0] for r in table[1:]] == [ra.ref]

    # actions on another community's request: as for a request that doesn't exist, nothing changes
    token = await csrf_at(client, f"/admin/hardship/{ra.id}")
    on_missing = await client.post("/admin/hardship/999999/act/start_review", data={"_csrf": token},
                                   allow_redirects=False)
    on_other = await client.post(f"/admin/hardship/{rb.id}/act/start_review", data={"_csrf": token},
                                 allow_redirects=False)
    assert on_missing.status == on_other.status == 303
    for path in (f"/admin/hardship/{rb.id}/note", f"/admin/hardship/{rb.id}/assign"):
        resp = await client.post(path, data={"_csrf": token, "text": "看看", "assignee": ""})
        assert resp.status == 404
    resp = await client.post(f"/admin/hardship/{rb.id}/reveal", data={"_csrf": token, "field": "phone"})
    assert resp.status == 404 and "13800000002" not in await resp.text()
    page = await (await client.post("/admin/hardship/bulk", data={
        "_csrf": token, "action": "start_review", "ids": [str(ra.id), str(rb.id)], "back": "/admin/hardship"})).text()
    assert "没有找到这条申请" in page and rb.ref not in page
    assert await status_of(db, ra) == "reviewing"
    assert await status_of(db, rb) == "submitted" and await status_of(db, rn) == "submitted"

    # a community account doesn't move requests between communities
    resp = await client.post(f"/admin/hardship/{ra.id}/community", data={"_csrf": token, "community": B})
    assert resp.status == 403 and "社区账号不能更改" in await resp.text()
    async with db() as s:
        assert (await s.get(HardshipRequest, ra.id)).community == A
        refused = list(await s.scalars(select(AuditLog).where(AuditLog.refused.is_(True))))
    reasons = [r.detail.get("reason") for r in refused]
    assert reasons.count("community") >= 8 and "scope" in reasons

    # the to-dos count its own community's requests: B's and the unset one are not its business
    home = await (await client.get("/admin/")).text()
    assert '<span class="todo-num">0</span><span>待审核的帮扶申请' in home
    assert '<span class="todo-num">1</span><span>审核中的帮扶申请' in home


async def test_federation_sees_all_and_gives_a_request_to_a_community(client, db, app, aiohttp_client):  # noqa: ANN001
    ra, rb, rn = await three_requests(db, app)
    await create_staff_user(db, "street", roles=("hardship",))
    await login(client, "street", DEFAULT_PASSWORD)
    page = await (await client.get("/admin/hardship")).text()
    assert ra.ref in page and rb.ref in page and rn.ref in page
    page = await (await client.get("/admin/hardship?community=none")).text()
    assert rn.ref in page and ra.ref not in page
    page = await (await client.get(f"/admin/hardship?community={B}")).text()
    assert rb.ref in page and ra.ref not in page

    token = await csrf_at(client, f"/admin/hardship/{rn.id}")
    resp = await client.post(f"/admin/hardship/{rn.id}/community", data={"_csrf": token, "community": "别的社区"})
    assert "请从列表中选择社区" in await resp.text()
    resp = await client.post(f"/admin/hardship/{rn.id}/community", data={"_csrf": token, "community": A})
    page = await resp.text()
    assert f"所属社区改为「{A}」" in page and "更改所属社区" in page  # flashed, and on the timeline
    async with db() as s:
        assert (await s.get(HardshipRequest, rn.id)).community == A
        row = await s.scalar(select(AuditLog).where(AuditLog.action == "hardship.set_community"))
    assert row.target == rn.ref and row.detail == {"from": None, "to": A}

    # now the community's account sees it
    other = await aiohttp_client(client.server)
    await create_staff_user(db, "xingfu", roles=("hardship",), community=A)
    await login(other, "xingfu", DEFAULT_PASSWORD)
    page = await (await other.get("/admin/hardship")).text()
    assert rn.ref in page and ra.ref in page and rb.ref not in page


async def test_a_community_account_records_for_its_own_community(client, db, app):  # noqa: ANN001
    await create_staff_user(db, "xingfu", roles=("hardship",), community=A)
    await login(client, "xingfu", DEFAULT_PASSWORD)
    page = await (await client.get("/admin/hardship/new")).text()
    assert f"所属社区：{A}" in page and 'name="community"' not in page
    token = await csrf_at(client, "/admin/hardship/new")
    resp = await client.post("/admin/hardship/new", data={
        "_csrf": token, "kind": "因灾", "description": "入户走访：台风损毁房屋", "household": "2", "income": "1800",
        "expenses": "0", "name": "吴六", "phone": "13700001111", "employer": "某物业公司", "id_number": "",
        "openid": "", "consent": "1", "community": B})
    assert resp.status == 200
    async with db() as s:
        req = (await s.scalars(select(HardshipRequest))).one()
    assert req.community == A
    assert req.ref in await (await client.get("/admin/hardship")).text()


ANSWERS = ["同意", "1", "母亲住院做手术，自付医药费很多，家里收入只靠我一人。", "3", "4500", "1500", "王小明",
           "13800138000", "街道环卫所"]


async def test_the_worker_names_their_community_in_the_dialogue(sim, db):  # noqa: ANN001
    u = sim.user("oW1")
    await u.send("帮扶")
    for a in ANSWERS:
        reply = await u.send(a)
    assert "您在哪个社区" in reply and f"1. {A}" in reply and f"2. {B}" in reply and "3. 不清楚" in reply
    reply = await u.send("2")
    assert "身份证号" in reply
    await u.send(ID_NUMBER)
    summary = await u.send("跳过")  # no photos
    assert f"所在社区：{B}" in summary
    assert "BF-" in await u.send("确认")
    async with db() as s:
        req = (await s.scalars(select(HardshipRequest))).one()
        member = await s.scalar(select(Member).where(Member.openid == "oW1"))
    assert req.community == B and member.community == B

    # 不清楚: no community on the request (the federation's accounts handle it), not asked again
    v = sim.user("oW2")
    await v.send("帮扶")
    for a in ANSWERS:
        await v.send(a)
    reply = await v.send("不知道")
    assert "身份证号" in reply
    await v.send("跳过")
    summary = await v.send("跳过")
    assert "所在社区：不清楚" in summary
    assert "BF-" in await v.send("确认")
    async with db() as s:
        req = await s.scalar(select(HardshipRequest).where(HardshipRequest.openid == "oW2"))
        member = await s.scalar(select(Member).where(Member.openid == "oW2"))
    assert req.community is None and member.community == ""


async def test_no_question_without_configured_communities(make_app, engine, aiohttp_client, db_url, tmp_path,
                                                           clock):  # noqa: ANN001
    plain = make_settings(db_url, tmp_path)
    app = make_app(plain)
    sim = WeChatSim(await aiohttp_client(app), path=plain.server.webhook_path, token=plain.wechat.token, clock=clock)
    u = sim.user("oW1")
    await u.send("帮扶")
    for a in ANSWERS:
        reply = await u.send(a)
    assert "社区" not in reply and "身份证号" in reply


async def test_proxy_entry_offers_only_followers_of_the_accounts_community(client, db, clock):  # noqa: ANN001
    """代办录入 by phone number is no way to learn another community's worker's name; the
    followers that are offered are audited as viewed."""
    async with db() as s, s.begin():
        s.add(Member(openid="oA1", first_seen=clock.now(), last_seen=clock.now(), phone="13700001111", name="张甲",
                     community=A))
        s.add(Member(openid="oB1", first_seen=clock.now(), last_seen=clock.now(), phone="13700002222", name="李乙",
                     community=B))
    await create_staff_user(db, "xingfu", roles=("hardship",), community=A)
    await login(client, "xingfu", DEFAULT_PASSWORD)
    form = {"kind": "因病", "description": "住院治疗花了很多钱，家里很困难", "household": "3", "income": "2000",
            "expenses": "800", "name": "李乙", "employer": "某厂", "id_number": "", "openid": "", "consent": "1", "community": A}

    async def propose(phone: str) -> str:
        data = {**form, "phone": phone, "_csrf": await csrf_at(client, "/admin/hardship/new")}
        return await (await client.post("/admin/hardship/new", data=data)).text()

    page = await propose("13700002222")  # another community's follower: not offered, recorded unlinked
    assert "已代办录入：BF-2026-0001（未关联微信" in page and "请核实是不是本人" not in page
    page = await propose("13700001111")  # its own community's follower: offered, and audited
    assert "请核实是不是本人" in page and "137****1111" in page
    async with db() as s:
        looked = list(await s.scalars(select(AuditLog).where(AuditLog.action == "hardship.link_lookup")))
    assert [r.target for r in looked] == ["member:oA1"]


async def test_a_read_only_federation_account_is_offered_no_community_form(client, db, app) -> None:  # noqa: ANN001
    """A viewer sees where a request belongs, but no 保存 that would only answer 403."""
    _ra, _rb, rn = await three_requests(db, app)
    await create_staff_user(db, "look", roles=("viewer",))
    await login(client, "look", DEFAULT_PASSWORD)
    page = await (await client.get(f"/admin/hardship/{rn.id}")).text()
    assert "所属社区" in page and 'name="community"' not in page
    await create_staff_user(db, "street", roles=("hardship",))  # the reviewer of the federation: offered
    await client.post("/admin/logout", data={"_csrf": await csrf_at(client, "/admin/")})
    await login(client, "street", DEFAULT_PASSWORD)
    assert 'name="community"' in await (await client.get(f"/admin/hardship/{rn.id}")).text()
