"""The staff admin site (mounted at /admin): auth, CSRF, layout, one page module per feature.

Build it with `bot.admin.site.create_admin_app`; add a page by writing
`bot/admin/pages/<feature>.py` with `setup(admin_app)` and listing it in
`bot.admin.pages.PAGE_MODULES`. Pages call feature operations; the admin holds
no business rules.
"""
