"""Sphinx configuration of the sk_eegm2 documentation.

Full build (runs the examples, several minutes on a CPU)::

    sphinx-build -W -b html docs docs/_build/html

Without running the examples::

    sphinx-build -W -D plot_gallery=0 -b html docs docs/_build/html

CI runs some of them (``make docs-ci``), with
``-D "sphinx_gallery_conf.filename_pattern=REGEX"``.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent))  # the package, also when it is not installed
sys.path.insert(0, str(DOCS / "sphinxext"))  # gallery_order

# sphinx-gallery runs each example from examples/, so a relative folder of EEGMAT recordings
# would be looked for there: make it absolute, taken from where Sphinx was started.
if os.environ.get("SK_EEGM2_EEGMAT_PATH"):
    os.environ["SK_EEGM2_EEGMAT_PATH"] = str(Path(os.environ["SK_EEGM2_EEGMAT_PATH"]).resolve())

import sk_eegm2  # noqa: E402

project = "sk_eegm2"
author = "sk_eegm2 contributors"
copyright = "2025, sk_eegm2 contributors"
release = sk_eegm2.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",  # renders the Markdown files included from outside docs/
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "sphinxext"]
source_suffix = {".rst": "restructuredtext"}  # Markdown only through include directives
root_doc = "index"
default_role = "literal"

# -- API reference -----------------------------------------------------------------
autosummary_generate = True
autodoc_typehints = "none"  # the numpydoc docstrings describe the types
autodoc_member_order = "bysource"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True

# -- Example gallery ---------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "within_subsection_order": "gallery_order.ExampleOrder",
    "backreferences_dir": "generated/backreferences",
    "doc_module": ("sk_eegm2",),
    "download_all_examples": False,
    "remove_config_comments": True,
    "min_reported_time": 1,
}

# -- MyST (Markdown) ---------------------------------------------------------------
myst_heading_anchors = 2

# -- HTML --------------------------------------------------------------------------
try:
    import pydata_sphinx_theme  # noqa: F401
except ImportError:  # the default theme still builds the same pages
    html_theme = "alabaster"
else:
    html_theme = "pydata_sphinx_theme"
    html_theme_options = {"show_toc_level": 2, "navigation_with_keys": False}
html_title = f"sk_eegm2 {release}"
html_show_sourcelink = False


# -- Workaround -------------------------------------------------------------------
def _reflow_eegm2_table(app, what, name, obj, options, lines):
    """Rebuild the simple table of ``EEGM2``'s docstring with wide enough columns.

    One of its cells runs into the column margin, which docutils rejects ("Malformed
    table"). Rebuilding a well-formed table leaves it as it is, so this can stay until the
    docstring is fixed, and be removed then.
    """
    if name not in ("sk_eegm2.nn.EEGM2", "sk_eegm2.nn.eegm2.EEGM2"):
        return
    borders = [i for i, line in enumerate(lines) if re.fullmatch(r"\s*=+(\s+=+)+\s*", line)]
    if len(borders) != 3:
        return
    start, end = borders[0], borders[-1]
    indent = lines[start][: len(lines[start]) - len(lines[start].lstrip())]
    rows = [re.split(r"\s{2,}", lines[i].strip()) for i in range(start, end) if i not in borders]
    if not rows or any(len(row) != len(rows[0]) for row in rows):
        return
    widths = [max(len(row[col]) for row in rows) for col in range(len(rows[0]))]
    border = indent + "  ".join("=" * width for width in widths)

    def line(row):
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        return (indent + "  ".join(cells)).rstrip()

    lines[start : end + 1] = [border, line(rows[0]), border, *map(line, rows[1:]), border]


def _skip_sklearn_members(app, what, name, obj, skip, options):
    """Leave out the members that estimators inherit from scikit-learn.

    ``get_params``, ``set_output``, ``set_fit_request`` and the like are documented by
    scikit-learn, and their docstrings point to labels of its documentation.
    """
    if getattr(obj, "__module__", None) and obj.__module__.startswith("sklearn."):
        return True
    return None


def setup(app):
    app.connect("autodoc-process-docstring", _reflow_eegm2_table)
    app.connect("autodoc-skip-member", _skip_sklearn_members)
