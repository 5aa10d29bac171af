"""Only a build step for setuptools (the project is described in pyproject.toml): the wheel carries the
compiled gettext catalogues (``.mo``) of every domain (core's and each plugin's) next to their ``.po`` sources."""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class build_py_with_catalogues(build_py):
    def run(self) -> None:
        super().run()
        from babel.messages.mofile import write_mo
        from babel.messages.pofile import read_po

        # every domain: core's (core/locale) and each plugin's own (plugins/<name>/locale)
        for po in Path(self.build_lib).glob("invoicebridge/**/locale/*/LC_MESSAGES/*.po"):
            with po.open("rb") as source:
                catalog = read_po(source, locale=po.parent.parent.name, domain=po.stem)
            with po.with_suffix(".mo").open("wb") as target:
                write_mo(target, catalog)


setup(cmdclass={"build_py": build_py_with_catalogues})
