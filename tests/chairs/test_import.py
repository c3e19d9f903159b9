"""`unionbot chairs import FILE`: CSV and XLSX, per-line errors, nothing half-imported."""
from __future__ import annotations

import asyncio
from pathlib import Path

from click.testing import CliRunner
from openpyxl import Workbook
from sqlalchemy import select

from bot.commands.chairs import chairs
from bot.db.engine import make_engine, make_sessionmaker
from bot.db.models.chairs import Chair

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "chairs.csv"


def stored(tmp_path: Path) -> list[Chair]:
    async def read() -> list[Chair]:
        engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/data/unionbot.db")
        async with make_sessionmaker(engine)() as s:
            rows = list((await s.scalars(select(Chair).order_by(Chair.id))).all())
        await engine.dispose()
        return rows
    return asyncio.run(read())


def test_sample_csv_imports_and_a_second_import_updates(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(chairs, ["import", str(SAMPLE)])
    assert result.exit_code == 0, result.output
    assert "5 added" in result.output
    result = CliRunner().invoke(chairs, ["import", str(SAMPLE)])
    assert "0 added, 5 updated" in result.output
    rows = stored(tmp_path)
    assert [c.name for c in rows][:2] == ["王建国", "李秀英"] and rows[0].community == "东湖社区"


def test_a_bad_line_stops_the_whole_import_with_line_numbers(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "bad.csv"
    bad.write_text("姓名,单位,社区,手机\n王建国,电子厂工会,东湖社区,13800138001\n李四,物流工会,西园社区,12345\n"
                   "张三,,西园社区,13900139000\n王二,机械厂工会,南山社区,13800138001\n", encoding="utf-8-sig")
    result = CliRunner().invoke(chairs, ["import", str(bad)])
    assert result.exit_code == 1
    assert "line 3" in result.output and "12345" in result.output
    assert "line 4" in result.output and "单位" in result.output
    assert "line 5" in result.output and "重复" in result.output
    assert "nothing imported" in result.output
    assert stored(tmp_path) == []


def test_xlsx_with_numeric_mobiles(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.chdir(tmp_path)
    wb = Workbook()
    ws = wb.active
    ws.append(["name", "organisation", "community", "mobile"])
    ws.append(["王建国", "电子厂工会", "东湖社区", 13800138001])
    wb.save(tmp_path / "chairs.xlsx")
    result = CliRunner().invoke(chairs, ["import", str(tmp_path / "chairs.xlsx")])
    assert result.exit_code == 0, result.output
    assert stored(tmp_path)[0].mobile == "13800138001"
