"""Build hook: the committed splits and corpus recipes live outside kbqa/ in the checkout
(eval/splits/*.json, corpora/*.toml) and ship in the wheel as package data under kbqa/_data/, where
kbqa.paths finds them. Everything else is configured in pyproject.toml; models/ stays out of the wheel."""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

# checkout folder, files, folder inside the package
SHIPPED = [("eval/splits", "*.json", "kbqa/_data/splits"), ("corpora", "*.toml", "kbqa/_data/recipes")]


class BuildPy(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:  # an editable install reads them from the checkout
            return
        for src, pattern, dst in SHIPPED:
            target = Path(self.build_lib, dst)
            self.mkpath(str(target))
            for path in sorted(Path(src).glob(pattern)):
                self.copy_file(str(path), str(target / path.name))


setup(cmdclass={"build_py": BuildPy})
