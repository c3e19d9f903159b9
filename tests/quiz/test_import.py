"""Importing questions: `unionbot quiz import FILE` (CSV and XLSX), bad rows, duplicates."""
from __future__ import annotations

import asyncio
from pathlib import Path

from click.testing import CliRunner
from openpyxl import Workbook
from sqlalchemy import select

from bot.commands.quiz import quiz
from bot.db.engine import make_engine, make_sessionmaker
from bot.db.models.quiz import QuizQuestion

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "quiz-questions.csv"


def setup_cli(tmp_path: Path) -> tuple[str, str]:
    db_url = f"sqlite+aiosqlite:///{tmp_path}/cli.db"
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[database]\nurl = "{db_url}"\n', encoding="utf-8")
    return str(cfg), db_url


def bank(db_url: str) -> list[QuizQuestion]:
    async def go() -> list[QuizQuestion]:
        engine = make_engine(db_url)
        try:
            async with make_sessionmaker(engine)() as s:
                return list(await s.scalars(select(QuizQuestion).order_by(QuizQuestion.id)))
        finally:
            await engine.dispose()
    return asyncio.run(go())


def test_sample_csv_imports_and_a_second_import_adds_nothing(tmp_path):
    cfg, url = setup_cli(tmp_path)
    result = CliRunner().invoke(quiz, ["import", str(SAMPLE), "--config", cfg])
    assert result.exit_code == 0, result.output
    assert "新增 10 道" in result.output
    questions = bank(url)
    assert len(questions) == 10
    fee = next(q for q in questions if q.stem.startswith("工会经费的来源"))
    assert fee.answer == "ABCD" and len(fee.options) == 4 and fee.topic == "工会法" and fee.difficulty == 2
    assert "第四十三条" in fee.explanation
    result = CliRunner().invoke(quiz, ["import", str(SAMPLE), "--config", cfg])
    assert result.exit_code == 0 and "新增 0 道" in result.output and "跳过 10 道" in result.output
    assert len(bank(url)) == 10


def test_bad_rows_are_reported_by_line_and_nothing_is_imported(tmp_path):
    cfg, url = setup_cli(tmp_path)
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "题干,选项A,选项B,选项C,答案,解析,专题,难度\n"
        "好的题目一,甲,乙,丙,A,,,易\n"
        "只有一个选项,甲,,,A,,,\n"          # line 3: fewer than 2 options
        "答案越界,甲,乙,,C,,,\n"            # line 4: C is not an option
        "好的题目二,甲,乙,丙,BC,,,中\n"
        "\"跨行的\n题干\",甲,乙,,B,,,超难\n"  # line 6 (spans two lines): bad difficulty
        "好的题目一,甲,乙,丙,A,,,\n",        # line 8: duplicate of line 2
        encoding="utf-8")
    result = CliRunner().invoke(quiz, ["import", str(bad), "--config", cfg])
    assert result.exit_code == 1
    out = result.output
    assert "没有导入任何题目" in out
    assert "第 3 行：每题需要 2–6 个选项" in out
    assert "第 4 行：正确答案只能在 A–B 之中" in out
    assert "第 6 行：难度" in out
    assert "第 8 行：与第 2 行的题干重复" in out
    assert "第 2 行" not in out.replace("与第 2 行", "")
    assert bank(url) == []


def test_xlsx_with_english_headers_and_gbk_csv(tmp_path):
    cfg, url = setup_cli(tmp_path)
    wb = Workbook()
    ws = wb.active
    ws.append(["stem", "option_a", "option_b", "option_c", "answer", "explanation", "topic", "difficulty"])
    ws.append(["工会会员的权利包括？", "选举权", "被选举权", "表决权", "a c b", "都对", "会员", 1])
    ws.append(["劳动合同应当采用什么形式？", "口头", "书面", None, "B", "书面形式", "劳动合同", "中"])
    xlsx = tmp_path / "bank.xlsx"
    wb.save(xlsx)
    result = CliRunner().invoke(quiz, ["import", str(xlsx), "--config", cfg])
    assert result.exit_code == 0, result.output
    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes("题干,选项A,选项B,答案\n工会是职工自愿结合的群众组织吗？,是,否,A\n".encode("gbk"))
    result = CliRunner().invoke(quiz, ["import", str(gbk), "--config", cfg])
    assert result.exit_code == 0, result.output
    questions = bank(url)
    assert [q.answer for q in questions] == ["ABC", "B", "A"]
    assert questions[0].difficulty == 1 and questions[1].options == ["口头", "书面"]


def test_bad_xlsx_row_reports_its_sheet_row(tmp_path):
    cfg, url = setup_cli(tmp_path)
    wb = Workbook()
    ws = wb.active
    ws.append(["题干", "选项A", "选项B", "答案"])
    ws.append(["第一题", "是", "否", "A"])
    ws.append(["第二题", "是", "否", ""])
    path = tmp_path / "bad.xlsx"
    wb.save(path)
    result = CliRunner().invoke(quiz, ["import", str(path), "--config", cfg])
    assert result.exit_code == 1 and "第 3 行：正确答案请填选项字母" in result.output
    assert bank(url) == []


def test_period_and_export_commands(tmp_path):
    cfg, url = setup_cli(tmp_path)
    assert CliRunner().invoke(quiz, ["import", str(SAMPLE), "--config", cfg]).exit_code == 0
    result = CliRunner().invoke(quiz, ["period", "2026-H1", "--config", cfg])
    assert result.exit_code == 0, result.output
    assert "2026年上半年测试: 10 道题" in result.output
    result = CliRunner().invoke(quiz, ["period", "2026-13", "--config", cfg])
    assert result.exit_code == 2 and "格式不对" in result.output
    result = CliRunner().invoke(quiz, ["periods", "--config", cfg])
    assert "2026-H1" in result.output
    out = tmp_path / "year.xlsx"
    result = CliRunner().invoke(quiz, ["export", "2026", "-o", str(out), "--config", cfg])
    assert result.exit_code == 0 and out.exists()


def test_large_file_shows_progress_and_bad_line_numbers(tmp_path):
    cfg, url = setup_cli(tmp_path)
    big = tmp_path / "big.csv"
    lines = ["题干,选项A,选项B,答案"] + [f"第{i}题？,是,否,{'AB'[i % 2]}" for i in range(400)]
    big.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = CliRunner().invoke(quiz, ["import", str(big), "--config", cfg])
    assert result.exit_code == 0 and "新增 400 道" in result.output
    assert "检查题目" in result.output and "写入题库" in result.output and "400/400" in result.output
    lines[301] = "第300题？,是,否,C"  # line 302 of the file
    big.write_text("\n".join(lines).replace("第", "新") + "\n", encoding="utf-8")
    result = CliRunner().invoke(quiz, ["import", str(big), "--config", cfg])
    assert result.exit_code == 1 and "第 302 行：正确答案只能在 A–B 之中" in result.output
    assert "写入题库" not in result.output
    assert len(bank(url)) == 400
