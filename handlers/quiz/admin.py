"""Admin pages of the quiz: periods and their results, the question bank, scores and export.

Presentation only: every query and rule is in `handlers.quiz.ops` / `handlers.quiz.scores`,
called with `ops_context(request)`; a refused operation's `QuizError` is flashed as it is.
"""
from __future__ import annotations

from datetime import datetime

from aiohttp import web
from markupsafe import Markup

from bot.admin import audit, lists
from bot.admin.export import spreadsheet_response
from bot.admin.web import db_session, flash, ops_context, render, render_error
from bot.operations import OpsContext
from handlers.quiz import ops
from handlers.quiz import bank_import as quiz_import
from handlers.quiz import scores as quiz_scores

MAX_UPLOAD = 5 * 1024 * 1024
SCORES_PER_PAGE = 50
YEARS = range(2000, 2101)  # years the pages accept in ?year= (others: this year)


def _url(request: web.Request, name: str, **parts: str) -> str:
    return str(request.app.router[name].url_for(**parts))


def _year(request: web.Request, ctx: OpsContext) -> int:
    raw = request.query.get("year", "").strip()
    if raw.isdecimal() and len(raw) == 4 and int(raw) in YEARS:
        return int(raw)
    return ctx.local().year


def _page(request: web.Request) -> int:
    raw = request.query.get("page", "").strip()
    return int(raw) if raw.isdecimal() and len(raw) < 7 and int(raw) > 0 else 1


async def _not_found(request: web.Request, what: str, back: str) -> web.Response:
    return await render_error(request, 404, f"没有找到{what}", f"{what}不存在，可能已被删除，或链接有误。", link=back)


def _local_input(value: object, ctx: OpsContext) -> datetime | None:
    """A `datetime-local` form value as an aware datetime (configured timezone)."""
    return ops.parse_local_time(str(value or ""), ctx.tz)


def _datetime_local(when: datetime, ctx: OpsContext) -> str:
    """The value of a `datetime-local` input."""
    return ctx.local(when).strftime("%Y-%m-%dT%H:%M")


async def _record(db, ctx: OpsContext, action: str, target: str, detail: dict | None = None) -> None:  # noqa: ANN001
    await audit.record(db, staff_id=ctx.staff_id, action=action, target=target, detail=detail or {}, now=ctx.now)


# ------------------------------------------------------------------ periods
async def index(request: web.Request) -> web.Response:
    """Periods of a year with their state and participation; a form to add one."""
    ctx = ops_context(request)
    year = _year(request, ctx)
    now = ctx.now
    async with db_session(request) as db:
        periods = []
        all_periods = await ops.list_periods(db, year)
        for p in all_periods:
            r = await quiz_scores.period_results(db, p)
            periods.append({"p": p, "title": ops.period_title(p), "status": ops.period_status(p, now),
                            "window": ops.window_text(p, ctx.tz),
                            "questions": len(r.questions), "participants": r.participants, "average": r.average})
        bank_size = (await ops.list_questions(db, limit=1))[1]
    choices = ops.period_choices(year, [p.code for p in all_periods])
    local = ctx.local()
    this_month = f"{local.year}-{local.month:02d}"
    upcoming = next((c for c, _ in choices if c >= this_month and "H" not in c), choices[0][0] if choices else "")
    return render(request, "quiz/index.html", {
        "year": year, "periods": periods, "bank_size": bank_size, "choices": choices, "suggested": upcoming,
        "per_month": ops.default_count(ctx.settings, "month"), "per_half": ops.default_count(ctx.settings, "half")})


async def create_period(request: web.Request) -> web.Response:
    form = await request.post()
    ctx = ops_context(request)
    try:
        async with db_session(request) as db, db.begin():
            period = await ops.create_period(
                db, ctx, str(form.get("code", "")), count=ops.parse_count(form.get("count")),
                opens_at=_local_input(form.get("opens_at"), ctx), closes_at=_local_input(form.get("closes_at"), ctx),
                reveal=str(form.get("reveal", "immediate")))
            n = len(await ops.period_questions(db, period))
            await _record(db, ctx, "quiz.period_create", period.code, {"questions": n})
    except ops.QuizError as exc:
        await flash(request, str(exc), "error")
        raise web.HTTPSeeOther(_url(request, "quiz.index")) from None
    await flash(request, f"已创建「{ops.period_title(period)}」，抽取了 {n} 道题" if n else
                f"已创建「{ops.period_title(period)}」，题库暂无可用题目，请先导入题目后再选题", "ok" if n else "warn")
    raise web.HTTPSeeOther(_url(request, "quiz.period", code=period.code))


class _NoPeriod(Exception):
    pass


async def _period_or_404(db, code: str) -> ops.QuizPeriod:  # noqa: ANN001
    period = await ops.get_period(db, code) if len(code) <= 16 else None
    if period is None:
        raise _NoPeriod(code)
    return period


async def _no_period(request: web.Request) -> web.Response:
    return await _not_found(request, "这一期", _url(request, "quiz.index"))


async def period_page(request: web.Request) -> web.Response:
    """Results of one period: participation, correct rate per question (bar chart), settings."""
    code = request.match_info["code"]
    ctx = ops_context(request)
    async with db_session(request) as db:
        try:
            period = await _period_or_404(db, code)
        except _NoPeriod:
            return await _no_period(request)
        results = await quiz_scores.period_results(db, period)
        locked = await ops.questions_locked(db, period)
        members = await quiz_scores.members_by_openid(db, results.scores)
    takers = sorted(results.scores.items(), key=lambda kv: (-kv[1].score, kv[0]))
    return render(request, "quiz/period.html", {
        "period": period, "title": ops.period_title(period), "status": ops.period_status(period, ctx.now),
        "results": results, "locked": locked, "letters": ops.LETTERS,
        "takers": [{"member": members.get(o), "score": s} for o, s in takers],
        "opens_local": _datetime_local(period.opens_at, ctx),
        "closes_local": _datetime_local(period.closes_at, ctx),
        "window": ops.window_text(period, ctx.tz), "ends": ops.end_text(period.closes_at, ctx.tz),
        "question_ids": ",".join(str(s.question.id) for s in results.questions),
    })


async def edit_period(request: web.Request) -> web.Response:
    code = request.match_info["code"]
    form = await request.post()
    ctx = ops_context(request)
    try:
        async with db_session(request) as db, db.begin():
            period = await _period_or_404(db, code)
            await ops.update_period(db, ctx, period, opens_at=_local_input(form.get("opens_at"), ctx),
                                    closes_at=_local_input(form.get("closes_at"), ctx),
                                    reveal=str(form.get("reveal", "")) or None)
            await _record(db, ctx, "quiz.period_edit", code, {
                "opens_at": period.opens_at.isoformat(), "closes_at": period.closes_at.isoformat(),
                "reveal": period.reveal})
        await flash(request, f"已保存：答题时间 {ops.window_text(period, ctx.tz)}")
    except ops.QuizError as exc:
        await flash(request, str(exc), "error")
    except _NoPeriod:
        return await _no_period(request)
    raise web.HTTPSeeOther(_url(request, "quiz.period", code=code))


async def period_questions(request: web.Request) -> web.Response:
    """Choose the period's questions (ids in order) or let the system draw them."""
    code = request.match_info["code"]
    form = await request.post()
    ctx = ops_context(request)
    try:
        async with db_session(request) as db, db.begin():
            period = await _period_or_404(db, code)
            if form.get("draw"):
                chosen = await ops.draw_questions(db, ctx, period, ops.parse_count(form.get("count")))
            else:
                chosen = await ops.set_period_questions(db, ctx, period, ops.parse_question_ids(form.get("ids")))
            await _record(db, ctx, "quiz.period_questions", code, {"ids": [q.id for q in chosen]})
        await flash(request, f"本期题目已更新，共 {len(chosen)} 道")
    except ops.QuizError as exc:
        await flash(request, str(exc), "error")
    except _NoPeriod:
        return await _no_period(request)
    raise web.HTTPSeeOther(_url(request, "quiz.period", code=code))


async def delete_period(request: web.Request) -> web.Response:
    """GET: what deleting the period means, and a button to confirm; POST: delete it (only while
    no one has answered; refused otherwise), audited."""
    code = request.match_info["code"]
    ctx = ops_context(request)
    if request.method != "POST":
        async with db_session(request) as db:
            try:
                period = await _period_or_404(db, code)
            except _NoPeriod:
                return await _no_period(request)
            results = await quiz_scores.period_results(db, period)
        return render(request, "quiz/period_delete.html", {
            "period": period, "title": ops.period_title(period), "window": ops.window_text(period, ctx.tz),
            "questions": len(results.questions), "participants": results.participants})
    try:
        async with db_session(request) as db, db.begin():
            period = await _period_or_404(db, code)
            title, year = ops.period_title(period), period.year
            n = await ops.delete_period(db, ctx, period)
            await _record(db, ctx, "quiz.period_delete", code, {"title": title, "questions": n})
    except ops.QuizError as exc:
        await flash(request, str(exc), "error")
        raise web.HTTPSeeOther(_url(request, "quiz.period", code=code)) from None
    except _NoPeriod:
        await flash(request, "这一期已经不存在了（可能刚被删除）。", "warn")
        raise web.HTTPSeeOther(_url(request, "quiz.index")) from None
    await flash(request, f"已删除「{title}」" + (f"（{n} 道题已放回题库，可再次抽取）" if n else ""))
    raise web.HTTPSeeOther(_url(request, "quiz.index") + f"?year={year}")


# ------------------------------------------------------------------ bank
def _options_cell(q: ops.QuizQuestion, page: lists.ListPage) -> Markup:
    return Markup("<br>").join(f"{ops.LETTERS[i]}. {o}" for i, o in enumerate(q.options))


def _row_button(q: ops.QuizQuestion, page: lists.ListPage) -> Markup:
    if q.deleted_at:
        return page.m.post_button(page.url("quiz.question_restore", qid=q.id), "恢复", page.csrf_token,
                                  style="btn-small")
    return page.m.post_button(page.url("quiz.question_delete", qid=q.id), "移出题库", page.csrf_token,
                              confirm="移出后不再被抽到，已有的作答记录保留。确定吗？", style="btn-small")


def _bank_action(restore: bool):  # noqa: ANN202
    """批量移出题库 / 批量恢复, one question: the same operation and audit row as the row's button."""
    async def one(db, qid: int, ctx: lists.ActionContext) -> str:  # noqa: ANN001
        q = await ops.get_question(db, qid)
        if q is None:
            raise ops.QuizError(f"没有第 {qid} 题。")
        await (ops.restore_question if restore else ops.delete_question)(db, ctx.ops, q)
        await audit.record(db, staff_id=ctx.staff.id, target=f"question:{qid}", detail={"bulk": True},
                           action="quiz.question_restore" if restore else "quiz.question_delete", now=ctx.now)
        return f"#{qid}"
    return one


async def _topic_choices(db) -> list[tuple[str, str]]:  # noqa: ANN001
    return [(t, t) for t in await ops.topics(db)]


def _removed_view(state: lists.ListState) -> bool:
    return state.filters["deleted"] == "1"


Q = ops.QuizQuestion
QUESTIONS = lists.ListView(
    title="题库",
    template="quiz/questions.html",
    query=lambda st: ops.question_query(topic=st.filters["topic"], deleted=_removed_view(st)),
    search=lists.Search(ops.question_search, label="题干", placeholder="关键词或编号"),
    filters=[lists.Choice("topic", "专题", _topic_choices),
             lists.Choice("deleted", "已移出", [("1", "已移出的题目")], hidden=True)],
    columns=[
        lists.Column("id", "编号", value=lambda q: f"#{q.id}", sort=Q.id),
        lists.Column("stem", "题干", value=lambda q: q.stem,
                     render=lambda q, p: p.link(p.url("quiz.question", qid=q.id), q.stem)),
        lists.Column("options", "选项", render=_options_cell, export=False),
        lists.Column("answer", "答案", value=lambda q: q.answer,
                     render=lambda q, p: Markup('<span class="qz-right">{}</span>').format(q.answer)),
        lists.Column("topic", "专题", value=lambda q: q.topic or "—", sort=Q.topic),
        lists.Column("difficulty", "难度", value=lambda q: ops.DIFFICULTY.get(q.difficulty, q.difficulty),
                     sort=Q.difficulty),
        lists.Column("buttons", "", render=_row_button, export=False),
    ],
    default_sort="-id",
    tiebreak=Q.id.desc(),
    # The export reads back in through 导入题目 (the import template's columns; 编号 is ignored).
    export=lists.Export("题库", sheet="题库", audit="quiz.bank_export", columns=[
        lists.Column("id", "编号", value=lambda q: q.id),
        lists.Column("stem", "题干", value=lambda q: q.stem),
        *(lists.Column(f"opt{ch}", f"选项{ch}", value=lambda q, i=i: q.options[i] if i < len(q.options) else "")
          for i, ch in enumerate(ops.LETTERS)),
        lists.Column("answer", "答案", value=lambda q: q.answer),
        lists.Column("explanation", "解析", value=lambda q: q.explanation),
        lists.Column("topic", "专题", value=lambda q: q.topic),
        lists.Column("difficulty", "难度", value=lambda q: ops.DIFFICULTY.get(q.difficulty, "")),
    ]),
    actions=[
        lists.BulkAction("remove", "批量移出题库", lists.each(_bank_action(restore=False)),
                         confirm="将所选 {n} 道题移出题库：以后不再被抽到，已有的作答记录保留。确定吗？",
                         shown=lambda st: not _removed_view(st)),
        lists.BulkAction("restore", "批量恢复", lists.each(_bank_action(restore=True)),
                         shown=_removed_view),
    ],
    unit="道",
)


async def import_upload(request: web.Request) -> web.Response:
    """Import a CSV/XLSX file uploaded by staff: all rows or none."""
    form = await request.post()
    ctx = ops_context(request)
    upload = form.get("file")
    if upload is None or not hasattr(upload, "file") or not upload.filename:
        await flash(request, "请选择要导入的文件。", "error")
        raise web.HTTPSeeOther(_url(request, "quiz.questions"))
    data = upload.file.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        await flash(request, "文件太大了（上限 5MB），请分成几个文件导入。", "error")
        raise web.HTTPSeeOther(_url(request, "quiz.questions"))
    async with db_session(request) as db, db.begin():
        report = await quiz_import.import_questions(db, ctx, upload.filename, data)
        if report.ok:
            await _record(db, ctx, "quiz.import", upload.filename[:128],
                          {"added": report.added, "skipped": report.skipped})
        else:  # a rejected file is logged too (nothing was imported)
            await audit.record(db, staff_id=ctx.staff_id, action="quiz.import", target=upload.filename[:128],
                               detail={"errors": len(report.errors), "reason": report.error_text(sep=" ")},
                               now=ctx.now, refused=True)
    if not report.ok:
        await flash(request, f"没有导入任何题目，{upload.filename} 有 {len(report.errors)} 处问题："
                    + report.error_text(sep=" "), "error")
    else:
        await flash(request, f"导入完成：新增 {report.added} 道" +
                    (f"，已在题库中跳过 {report.skipped} 道" if report.skipped else ""))
    raise web.HTTPSeeOther(_url(request, "quiz.questions"))


async def import_template(request: web.Request) -> web.Response:
    """An Excel file with the import columns and two example rows."""
    return spreadsheet_response("xlsx", quiz_import.TEMPLATE_HEADER, quiz_import.TEMPLATE_ROWS,
                                filename="quiz-template", sheet="题库导入模板")


def _form_fields(form) -> dict:  # noqa: ANN001
    return {
        "stem": form.get("stem", ""), "options": [form.get(f"opt{ch}", "") for ch in ops.LETTERS],
        "answer": form.get("answer", ""), "explanation": form.get("explanation", ""),
        "topic": form.get("topic", ""), "difficulty": form.get("difficulty", "2"),
    }


async def question_new(request: web.Request) -> web.Response:
    if request.method == "POST":
        fields = _form_fields(await request.post())
        ctx = ops_context(request)
        try:
            async with db_session(request) as db, db.begin():
                q = await ops.create_question(db, ctx, source="后台录入", **fields)
                await _record(db, ctx, "quiz.question_create", f"question:{q.id}")
        except ops.QuizError as exc:
            return render(request, "quiz/question_form.html", {"q": None, "form": fields, "error": str(exc),
                                                               "letters": ops.LETTERS}, status=400)
        await flash(request, f"已添加题目 #{q.id}")
        raise web.HTTPSeeOther(_url(request, "quiz.questions"))
    return render(request, "quiz/question_form.html", {"q": None, "form": None, "letters": ops.LETTERS})


async def question_edit(request: web.Request) -> web.Response:
    """Edit a question. A new answer key for a question already answered is saved only after
    staff confirm it, told how many answers it re-marks; the flash then says what changed."""
    qid = int(request.match_info["qid"])
    async with db_session(request) as db:
        q = await ops.get_question(db, qid)
        answers = await ops.question_answer_count(db, qid) if q is not None else 0
    if q is None:
        return await _not_found(request, f"第 {qid} 题", _url(request, "quiz.questions"))
    page = {"q": q, "letters": ops.LETTERS, "answers": answers}
    if request.method == "POST":
        form = await request.post()
        fields = _form_fields(form)
        ctx = ops_context(request)
        try:
            async with db_session(request) as db, db.begin():
                q = await ops.get_question(db, qid)
                edit = await ops.preview_question_edit(db, q, **fields)
                if edit.key_changed and edit.answers and form.get("confirm_key") != edit.new_answer:
                    # Not saved yet: ask first, with what the new key does to the answers given.
                    return render(request, "quiz/question_form.html", {**page, "q": q, "form": fields,
                                                                       "confirm": edit})
                changed = await ops.update_question(db, ctx, q, **fields)
                await _record(db, ctx, "quiz.question_edit", f"question:{qid}", {
                    "changed": edit.changed, "rescored": changed,
                    **({"answer": [edit.old_answer, edit.new_answer]} if edit.key_changed else {})})
        except ops.QuizError as exc:
            async with db_session(request) as db:  # the failed transaction expired `q`: read it again
                q = await ops.get_question(db, qid)
            return render(request, "quiz/question_form.html", {**page, "q": q, "form": fields, "error": str(exc)},
                          status=400)
        await flash(request, f"已保存题目 #{qid}：{edit.summary()}" if edit.changed else f"题目 #{qid} 没有改动")
        raise web.HTTPSeeOther(_url(request, "quiz.question", qid=str(qid)))
    return render(request, "quiz/question_form.html", {**page, "form": None})


async def question_delete(request: web.Request) -> web.Response:
    """Remove from the bank (soft) or restore: past answers are untouched."""
    qid = int(request.match_info["qid"])
    restore = request.path.endswith("/restore")
    ctx = ops_context(request)
    try:
        async with db_session(request) as db, db.begin():
            q = await ops.get_question(db, qid)
            if q is None:
                raise ops.QuizError(f"没有第 {qid} 题。")
            if restore:
                await ops.restore_question(db, ctx, q)
            else:
                await ops.delete_question(db, ctx, q)
            await _record(db, ctx, "quiz.question_restore" if restore else "quiz.question_delete",
                          f"question:{qid}")
    except ops.QuizError as exc:  # e.g. a second click: it was removed already
        await flash(request, str(exc), "warn")
        raise web.HTTPSeeOther(_url(request, "quiz.questions")) from None
    await flash(request, f"题目 #{qid} 已恢复" if restore else f"题目 #{qid} 已移出题库（历史作答保留）")
    raise web.HTTPSeeOther(_url(request, "quiz.questions"))


# ------------------------------------------------------------------ scores
async def _table(request: web.Request, ctx: OpsContext, year: int) -> quiz_scores.YearTable:
    async with db_session(request) as db:
        table = await quiz_scores.year_table(db, ctx, year, with_all_chairs=True)
        table.board = await quiz_scores.employer_board(db, table)  # type: ignore[attr-defined]
    return table


async def scores_page(request: web.Request) -> web.Response:
    """Leaderboards (person; employer/community) and the year totals for the assessment."""
    ctx = ops_context(request)
    year = _year(request, ctx)
    table = await _table(request, ctx, year)
    chairs_only = request.query.get("chairs") == "1"
    rows = [r for r in table.rows if r.chair] if chairs_only else table.rows
    pages = max(1, -(-len(rows) // SCORES_PER_PAGE))
    page = min(_page(request), pages)
    shown = rows[(page - 1) * SCORES_PER_PAGE:page * SCORES_PER_PAGE]
    return render(request, "quiz/scores.html", {
        "year": year, "table": table, "rows": shown, "total": len(rows), "page": page, "pages": pages,
        "labels": {p.code: ops.period_label(p) for p in table.periods},
        "board": table.board, "chairs_only": chairs_only})


async def export(request: web.Request) -> web.StreamResponse:
    ctx = ops_context(request)
    year = _year(request, ctx)
    fmt = request.match_info["fmt"]
    table = await _table(request, ctx, year)
    if request.query.get("chairs") == "1":
        table.rows = [r for r in table.rows if r.chair]
    header, rows = quiz_scores.year_export_rows(table)
    async with db_session(request) as db, db.begin():
        await _record(db, ctx, "quiz.export", str(year), {"format": fmt, "rows": len(rows)})
    return spreadsheet_response(fmt, header, rows, filename=f"{year}年答题成绩", sheet=f"{year}年答题成绩", tz=ctx.tz)


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/quiz", index, name="quiz.index")
    r.add_post("/quiz/periods", create_period, name="quiz.period_create")
    r.add_get("/quiz/periods/{code}", period_page, name="quiz.period")
    r.add_post("/quiz/periods/{code}/edit", edit_period, name="quiz.period_edit")
    r.add_post("/quiz/periods/{code}/questions", period_questions, name="quiz.period_questions")
    r.add_route("*", "/quiz/periods/{code}/delete", delete_period, name="quiz.period_delete")
    QUESTIONS.add_routes(r, "/quiz/questions", name="quiz.questions", export_name="quiz.bank_download",  # no personal data
                         bulk_name="quiz.bank_bulk")
    r.add_post("/quiz/questions/import", import_upload, name="quiz.upload")
    r.add_get("/quiz/questions/template.xlsx", import_template, name="quiz.template")
    r.add_route("*", "/quiz/questions/new", question_new, name="quiz.question_new")
    r.add_route("*", r"/quiz/questions/{qid:\d{1,9}}", question_edit, name="quiz.question")
    r.add_post(r"/quiz/questions/{qid:\d{1,9}}/delete", question_delete, name="quiz.question_delete")
    r.add_post(r"/quiz/questions/{qid:\d{1,9}}/restore", question_delete, name="quiz.question_restore")
    r.add_get("/quiz/scores", scores_page, name="quiz.scores")
    r.add_get(r"/quiz/scores/export.{fmt:csv|xlsx}", export, name="quiz.export")
