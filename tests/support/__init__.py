"""Helpers shared by the tests (no tests here): import them from `tests.support.<topic>`.

admin (log in, CSRF tokens), browser (Chromium), fake_wechat (the fake WeChat API server),
db and settings (a test's own database and settings), and one module per feature:
hardship, signup, quiz, chairs. The WeChat simulator is `bot.wechat.simulator`.
"""
