"""Uploads in the admin: its own body limit (not the webhook's 64 KB), a Chinese 413 page past
it, real-sized imports, and damaged or hostile XLSX files refused with a sentence naming the
problem — over HTTP with CSRF, on both databases."""
from __future__ import annotations

import io
import zipfile

from aiohttp import FormData
from sqlalchemy import func, select

from bot.config import Settings
from bot.db.models.chairs import Chair
from bot.db.models.quiz import QuizQuestion
from bot.keys import SESSIONMAKER
from bot.wechat.simulator import WeChatSim
from tests.support.admin import csrf_from, log_in_staff
from tests.support.settings import make_settings
from tests.support.spreadsheets import (bank_xlsx, chairs_xlsx, entity_bomb_xlsx, small_bank_xlsx, truncated,
                                        zip_bomb_xlsx)

QUIZ = ("/admin/quiz/questions", "/admin/quiz/questions/import")
CHAIRS = ("/admin/chairs/registry", "/admin/chairs/registry/import")
RAW_ERRORS = ("File is not a zip file", "Maximum request body size", "Traceback", "Server got itself in trouble",
              "zipfile", "openpyxl", "BadZipFile", "Error", "Exception")


async def _token(client, db, page: str) -> str:  # noqa: ANN001
    await log_in_staff(client, db)
    resp = await client.get(page)
    assert resp.status == 200
    return csrf_from(await resp.text())


async def _upload(client, target: str, token: str, name: str, data: bytes, **kw):  # noqa: ANN001, ANN003, ANN201
    form = FormData()
    form.add_field("_csrf", token)
    form.add_field("file", data, filename=name, content_type="application/octet-stream")
    return await client.post(target, data=form, **kw)


def _no_raw_errors(page: str) -> None:
    for text in RAW_ERRORS:
        assert text not in page, text


async def _count(db, model) -> int:  # noqa: ANN001
    async with db() as s:
        return await s.scalar(select(func.count()).select_from(model))


def test_the_admin_has_its_own_limit(app, settings: Settings) -> None:  # noqa: ANN001
    assert settings.server.max_body == 64 * 1024
    assert settings.server.admin_max_body == 10 * 1024 * 1024  # the default
    assert app._client_max_size == 10 * 1024 * 1024  # aiohttp's limit is the top-level app's


async def test_a_real_question_bank_over_64_kb_imports(client, db) -> None:  # noqa: ANN001
    data = bank_xlsx(400)
    assert len(data) > 128 * 1024  # two webhook limits, as the real 163 KB file
    token = await _token(client, db, QUIZ[0])
    resp = await _upload(client, QUIZ[1], token, "2026年题库.xlsx", data)
    page = await resp.text()
    assert resp.status == 200 and "导入完成：新增 400 道" in page, page[:2000]
    assert await _count(db, QuizQuestion) == 400


async def test_a_real_chairs_file_over_64_kb_imports(client, db) -> None:  # noqa: ANN001
    data = chairs_xlsx(1500)
    assert len(data) > 64 * 1024
    token = await _token(client, db, CHAIRS[0])
    resp = await _upload(client, CHAIRS[1], token, "主席名册.xlsx", data)
    page = await resp.text()
    assert resp.status == 200 and "新增 1500 人" in page, page[:2000]
    assert await _count(db, Chair) == 1500


async def test_an_upload_over_the_limit_gets_the_chinese_413_page(make_app, engine, aiohttp_client, db_url, tmp_path,
                                                                  clock) -> None:  # noqa: ANN001
    small = make_settings(db_url, tmp_path, server={"reply_timeout": 4.0, "admin_max_body": 100 * 1024})
    app = make_app(small)
    client = await aiohttp_client(app)
    db = app[SESSIONMAKER]
    token = await _token(client, db, QUIZ[0])
    # Declared in Content-Length: refused before the body is read.
    resp = await _upload(client, QUIZ[1], token, "big.xlsx", b"x" * (200 * 1024))
    page = await resp.text()
    assert resp.status == 413
    assert "文件太大了" in page and "100 KB" in page and "返回" in page
    assert 'class="nav' in page or "<nav" in page  # the site's layout, with a way back
    _no_raw_errors(page)

    # Sent in chunks (no Content-Length): found while the form is read.
    async def chunks():  # noqa: ANN202
        yield f"_csrf={token}&file=".encode()
        for _ in range(150):
            yield b"a" * 1024

    resp = await client.post(QUIZ[1], data=chunks(), headers={"Content-Type": "application/x-www-form-urlencoded"})
    page = await resp.text()
    assert resp.status == 413 and "文件太大了" in page
    _no_raw_errors(page)
    assert await _count(db, QuizQuestion) == 0

    # The webhook keeps its own 64 KB.
    sim = WeChatSim(client, path=small.server.webhook_path, token=small.wechat.token, clock=clock)
    assert (await sim.post_raw(b"<xml>" + b"a" * (70 * 1024) + b"</xml>")).status == 413


async def test_the_default_limit_is_10_mb(client, db) -> None:  # noqa: ANN001
    token = await _token(client, db, QUIZ[0])
    resp = await _upload(client, QUIZ[1], token, "huge.xlsx", b"x" * (10 * 1024 * 1024 + 1))
    page = await resp.text()
    assert resp.status == 413 and "10 MB" in page
    # Under the site's limit but over an import's 5 MB: the import says so itself.
    resp = await _upload(client, QUIZ[1], token, "six.xlsx", b"x" * (6 * 1024 * 1024))
    page = await resp.text()
    assert resp.status == 200 and "文件太大了（上限 5MB）" in page


def _docx_like() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", "<document/>")
    return buf.getvalue()


BAD_FILES = [
    ("not-excel.xlsx", lambda: "题干,选项A\n".encode(), "不是有效的 Excel 文件"),
    ("cut.xlsx", lambda: truncated(bank_xlsx(50)), "不完整或已损坏"),
    ("laughs.xlsx", entity_bomb_xlsx, "不允许的 XML 声明"),
    ("bomb.xlsx", zip_bomb_xlsx, "解压后超过 64 MB"),
    ("old.xls", lambda: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600, "旧版 Excel（.xls）"),
    ("letter.xlsx", _docx_like, "没有 Excel 工作表"),
    ("photo.png", lambda: b"\x89PNG\r\n\x1a\n" + b"\0" * 100, "不是表格文件"),
]


async def test_damaged_or_hostile_files_are_refused_in_chinese(client, db) -> None:  # noqa: ANN001
    for list_page, target, model in (QUIZ + (QuizQuestion,), CHAIRS + (Chair,)):
        token = await _token(client, db, list_page) if list_page == QUIZ[0] else csrf_from(
            await (await client.get(list_page)).text())
        for name, make, expected in BAD_FILES:
            resp = await _upload(client, target, token, name, make(), allow_redirects=False)
            assert resp.status == 303, (target, name, resp.status)  # back to the list with the message
            page = await (await client.get(resp.headers["Location"])).text()
            assert expected in page and f"「{name}」" in page, (target, name)
            _no_raw_errors(page)
        assert await _count(db, model) == 0
    # A good file still imports after all that.
    resp = await _upload(client, QUIZ[1], token, "ok.xlsx", small_bank_xlsx())
    assert "新增 1 道" in await resp.text()
