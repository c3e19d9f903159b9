"""The staff admin site framework (mounted at /admin): auth, CSRF, layout, the list helper,
the 工作台 home page.

`bot.admin.site.create_admin_app` builds it from the feature manifests: a feature declares
`admin=setup` (its routes), `nav` entries, a `templates` folder and a `todos` counter. Pages
use `bot.admin.web` and call feature operations; the admin holds no business rules.
"""
