"""Build the one compiled extension, fluxpool._rv1core; all metadata is in pyproject.toml."""

import re
import sys
from pathlib import Path

from Cython.Build import cythonize
from setuptools import Extension, setup

VERSION = re.search(
    r'__version__ = "([^"]+)"', Path("src/fluxpool/_version.py").read_text()
).group(1)

# -O3 where the compiler takes GCC-style flags; MSVC keeps its release default (/Ox).
# Never -march=native: a wheel must run on every CPU of its platform tag.
compile_args = [] if sys.platform == "win32" else ["-O3"]

extension = Extension(
    "fluxpool._rv1core",
    ["src/_rv1core.pyx"],
    include_dirs=["src"],
    depends=["src/bitops.h", *map(str, Path("src").glob("core_*.pxi"))],
    define_macros=[("FLUXPOOL_VERSION", f'"{VERSION}"')],
    extra_compile_args=compile_args,
)

setup(
    ext_modules=cythonize(
        [extension],
        compiler_directives={
            "language_level": 3,
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
        },
    )
)
