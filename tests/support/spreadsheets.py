"""Spreadsheet files for import tests: real-sized good ones and hostile ones (no tests here).

    bank_xlsx(400)        a question bank as staff make it, ~160 KB (over the webhook's 64 KB)
    chairs_xlsx(1500)     a chair registry, over 64 KB
    entity_bomb_xlsx()    a valid workbook whose shared strings declare a billion-laughs DTD
    zip_bomb_xlsx()       a valid workbook whose sheet unpacks to ~70 MB from ~70 KB
    truncated(data)       the first half of a file, as an interrupted download leaves it
"""
from __future__ import annotations

import io
import random
import zipfile

from openpyxl import Workbook

# Common characters of union texts: random picks compress about as badly as real prose does.
_CJK = ("工会会员职工劳动合同工资集体协商企业单位社区主席经费福利保障安全培训权益法律规定组织代表大会委员会"
        "民主管理监督调解争议女职工休假加班报酬社会保险医疗养老失业工伤生育住房公积金困难帮扶慰问救助技能竞赛"
        "先进模范表彰宣传教育文化体育活动服务站点驿站户外劳动者新就业形态快递外卖网约车货车司机家政护理")
_SEP = "，。、；"


def _text(rng: random.Random, n: int) -> str:
    out = []
    for i in range(n):
        out.append(rng.choice(_CJK))
        if i and i % rng.randint(7, 15) == 0:
            out.append(rng.choice(_SEP))
    return "".join(out)


def _save(wb: Workbook) -> bytes:
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def bank_rows(n: int = 400, seed: int = 2026) -> list[list[object]]:
    rng = random.Random(seed)
    rows = []
    for i in range(1, n + 1):
        k = rng.choice((3, 4, 4, 4, 5))
        answer = "".join(sorted(rng.sample("ABCDE"[:k], rng.choice((1, 1, 1, 2)))))
        rows.append([f"第{i}题：{_text(rng, 36)}？", *(_text(rng, rng.randint(4, 14)) for _ in range(k)),
                     *([""] * (6 - k)), answer, _text(rng, 150), rng.choice(("工会法", "劳动合同法", "安全生产")),
                     rng.choice(("易", "中", "难"))])
    return rows


def bank_xlsx(n: int = 400, seed: int = 2026) -> bytes:
    """A question bank in the import template's columns."""
    wb = Workbook()
    ws = wb.active
    ws.title = "题库"
    ws.append(["题干", "选项A", "选项B", "选项C", "选项D", "选项E", "选项F", "答案", "解析", "专题", "难度"])
    for row in bank_rows(n, seed):
        ws.append(row)
    return _save(wb)


def chairs_xlsx(n: int = 1500, seed: int = 7, community: str = "东湖社区") -> bytes:
    rng = random.Random(seed)
    wb = Workbook()
    ws = wb.active
    ws.title = "主席名册"
    ws.append(["姓名", "单位", "社区", "手机"])
    surnames = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
    given = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红梅鹏辉建国志文斌宇浩凯健俊帆"
    for i in range(n):
        name = rng.choice(surnames) + "".join(rng.choice(given) for _ in range(rng.choice((1, 2))))
        org = _text(rng, rng.randint(6, 16)).replace("，", "").replace("。", "").replace("、", "").replace("；", "")
        ws.append([name, org + "有限公司工会", community, 13900000000 + i * 7 + rng.randint(0, 6)])
    return _save(wb)


def _replace_part(data: bytes, part: str, content: bytes) -> bytes:
    """The workbook `data` with one part's content replaced (everything else as it was)."""
    src = zipfile.ZipFile(io.BytesIO(data))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            out.writestr(info.filename, content if info.filename == part else src.read(info.filename))
    return buf.getvalue()


def small_bank_xlsx() -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.append(["题干", "选项A", "选项B", "答案"])
    ws.append(["工会会员的权利包括？", "选举权", "被选举权", "AB"])
    return _save(wb)


def entity_bomb_xlsx() -> bytes:
    """Billion laughs in the sheet: 10 levels of 10 → 10^9 copies of 「lol」 if expanded."""
    levels = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{"".join(f"&lol{i - 1};" for _ in range(10))}">' for i in range(1, 10)]
    data = small_bank_xlsx()
    sheet = zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet1.xml").decode()
    sheet = ('<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE worksheet [' + "".join(levels) + "]>"
             + sheet.replace("<t>工会会员的权利包括？</t>", "<t>&lol9;</t>"))
    return _replace_part(data, "xl/worksheets/sheet1.xml", sheet.encode())


def zip_bomb_xlsx(unpacked: int = 70 * 1024 * 1024) -> bytes:
    """The sheet padded with whitespace to `unpacked` bytes: valid XML, tiny when deflated."""
    data = small_bank_xlsx()
    sheet = zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet1.xml")
    head, sep, tail = sheet.partition(b"<sheetData>")
    return _replace_part(data, "xl/worksheets/sheet1.xml", head + sep + b" " * unpacked + tail)


def truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]
