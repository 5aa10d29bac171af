"""Console scaffolding: the Jinja environment a sandbox's console pages render with.

``console_environment("invoicebridge.plugins.x")`` loads the plugin's ``templates`` folder first and the
kit's second, with the app's i18n (``_()``, ``money``, ``number``...) installed. A console page extends
``sandbox_base.html`` (blocks ``title``, ``heading``, ``intro``, ``content``) and may include
``sandbox_requests.html`` (the request log, given as ``requests``) and ``sandbox_deliveries.html`` (the
webhook deliveries, given as ``deliveries``: rows from :mod:`.console_deliveries`).
"""

from __future__ import annotations

import jinja2
from starlette.responses import HTMLResponse

from invoicebridge.core.i18n import Translator, install_jinja


def console_environment(package: str, folder: str = "templates", *, texts: Translator | None = None) -> jinja2.Environment:
    """A console's template environment: the plugin's templates first, then the kit's base page; texts from the
    plugin's own catalogue (``texts``, its :func:`~invoicebridge.core.i18n.translator`), falling back to core's for
    the kit's own."""
    env = jinja2.Environment(loader=jinja2.ChoiceLoader([
        jinja2.PackageLoader(package, folder), jinja2.PackageLoader("invoicebridge.sandbox_kit", "templates")]),
        autoescape=True)
    install_jinja(env, texts)
    return env


def render(env: jinja2.Environment, template: str, *, status: int = 200, **context) -> HTMLResponse:
    return HTMLResponse(env.get_template(template).render(**context), status_code=status)
