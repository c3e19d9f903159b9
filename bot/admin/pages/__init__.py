"""Admin page modules.

Each module in PAGE_MODULES exposes `setup(admin_app: web.Application) -> None`
that adds its routes to the admin app and registers its menu entry with
`bot.admin.nav.register("中文标题", "/path", order)`. Templates go under
`bot/admin/templates/<feature>/`. The home page (`home.py`) is always loaded.
Entries are dotted module names ("bot.admin.pages.hardship") or short names
("hardship"); a module that fails to import stops the start with an error.
"""
PAGE_MODULES: list[str] = ["hardship", "signup", "chairs", "quiz"]
