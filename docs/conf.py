"""Sphinx configuration for fluxpool's documentation.

Build (fluxpool must be importable, e.g. ``pip install '.[docs]'`` from the
repository root, or ``PYTHONPATH=src`` after ``python setup.py build_ext --inplace``)::

    sphinx-build -W -b html docs docs/_build
"""

import fluxpool

project = "fluxpool"
author = "fluxpool developers"
copyright = "fluxpool developers"
release = fluxpool.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
]

# fluxpool.flux subclasses flux-core's classes; flux-core is not needed to document it.
autodoc_mock_imports = ["flux"]
autodoc_default_options = {
    "members": True,
    "member-order": "bysource",
}
autodoc_typehints = "signature"
autoclass_content = "both"
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False

exclude_patterns = ["_build"]
templates_path = []
html_static_path = ["_static"]
html_theme = "furo"
html_title = f"fluxpool {release}"
highlight_language = "none"  # literal blocks (::) are output or shell text; code says its language
nitpicky = False
