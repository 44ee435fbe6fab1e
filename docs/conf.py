"""Sphinx configuration of the sk_eegm2 documentation.

Full build (runs the examples, several minutes on a CPU)::

    sphinx-build -W -b html docs docs/_build/html

Without running the examples::

    sphinx-build -W -D plot_gallery=0 -b html docs docs/_build/html

CI runs some of them (``make docs-ci``), with
``-D "sphinx_gallery_conf.filename_pattern=REGEX"``.

The build is nitpicky: every cross-reference must resolve, those to other libraries
through intersphinx where their inventories can be read (see "Cross-references" below for
builds without internet access).
"""

from __future__ import annotations

import builtins
import http.client
import os
import re
import sys
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sphinx.pycode import ModuleAnalyzer

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
    "sphinx.ext.intersphinx",
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

# -- Cross-references ------------------------------------------------------------
# Every reference must resolve (``-W`` turns a broken one into an error): those to sk_eegm2
# always, those to the libraries below through their intersphinx inventories. A library's
# inventory is read from $SK_EEGM2_INVENTORIES/NAME.inv where that file exists (for builds
# without internet access: save URL/objects.inv there once), else downloaded from
# URL/objects.inv. A library whose inventory can be reached neither way is left out of the
# mapping, its names render as plain text and references to it go unchecked, and the build
# says so: offline builds pass and check sk_eegm2's own references as strictly as any.
nitpicky = True

# name: (documentation URL, top-level modules whose names the inventory holds)
INVENTORIES = {
    "python": (
        "https://docs.python.org/3",
        (*sorted(sys.stdlib_module_names), *(n for n in dir(builtins) if not n.startswith("_"))),
    ),
    "numpy": ("https://numpy.org/doc/stable", ("numpy",)),
    "scipy": ("https://docs.scipy.org/doc/scipy", ("scipy",)),
    "sklearn": ("https://scikit-learn.org/stable", ("sklearn",)),
    "torch": ("https://docs.pytorch.org/docs/stable", ("torch",)),
    "mne": ("https://mne.tools/stable", ("mne",)),
    "skorch": ("https://skorch.readthedocs.io/en/stable", ("skorch",)),
    "moabb": ("https://moabb.neurotechx.com/docs", ("moabb",)),
    "pandas": ("https://pandas.pydata.org/docs", ("pandas",)),
    "matplotlib": ("https://matplotlib.org/stable", ("matplotlib",)),
    "joblib": ("https://joblib.readthedocs.io/en/stable", ("joblib",)),
}
INVENTORY_TIMEOUT = 10  # seconds to wait for a documentation site


def _inventories(name):
    """Where intersphinx can read ``name``'s inventory: a local file, the URL (None), or nowhere."""
    url = INVENTORIES[name][0]
    folder = os.environ.get("SK_EEGM2_INVENTORIES")
    if folder and (Path(folder) / f"{name}.inv").is_file():
        return (str((Path(folder) / f"{name}.inv").resolve()),)
    try:
        with urllib.request.urlopen(f"{url}/objects.inv", timeout=INVENTORY_TIMEOUT) as answer:
            return (None,) if answer.read(18) == b"# Sphinx inventory" else ()
    # No network, a name not resolved, a timeout, an HTTP error, a broken answer.
    except (OSError, http.client.HTTPException):
        return ()


with ThreadPoolExecutor(len(INVENTORIES)) as pool:
    _found = dict(zip(INVENTORIES, pool.map(_inventories, INVENTORIES), strict=True))
intersphinx_mapping = {
    name: (INVENTORIES[name][0], *found) for name, found in _found.items() if found
}
_unreachable = [name for name, found in _found.items() if not found]
nitpick_ignore_regex = [
    ("py:.*", rf"({'|'.join(map(re.escape, INVENTORIES[name][1]))})(\..*)?")
    for name in _unreachable
]
if _unreachable:
    print(
        f"intersphinx: no inventory reached for {', '.join(_unreachable)}; references to "
        "them are not checked (SK_EEGM2_INVENTORIES names a folder of NAME.inv files)"
    )

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


def _reexported_data_comment(app, what, name, obj, options, lines):
    """Give data that a package re-exports (``sk_eegm2.nn.PRESETS``) its ``#:`` comment.

    autodoc reads such comments in the module named (``sk_eegm2.nn``) only, and otherwise
    shows the docstring of the value's type ("Built-in immutable sequence."); the comment
    sits in the submodule that defines the value.
    """
    if what != "data":
        return
    package, _, attribute = name.rpartition(".")
    for module_name, module in sorted(sys.modules.items()):
        if module_name.startswith(f"{package}.") and getattr(module, attribute, None) is obj:
            comment = ModuleAnalyzer.for_module(module_name).find_attr_docs().get(("", attribute))
            if comment:
                lines[:] = comment
                return


# Base classes that live in private modules, by the public names their libraries document.
PUBLIC_BASES = {
    "torch.nn.modules.module.Module": "torch.nn.Module",
    "torch.utils.data.dataset.Dataset": "torch.utils.data.Dataset",
    "skorch.callbacks.base.Callback": "skorch.callbacks.Callback",
}


def _public_bases(app, name, obj, options, bases):
    """Name base classes as their libraries' inventories do (``torch.nn.Module``)."""
    for i, base in enumerate(bases):
        public = PUBLIC_BASES.get(f"{base.__module__}.{base.__qualname__}")
        if public:
            bases[i] = f":py:class:`~{public}`"


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
    app.connect("autodoc-process-docstring", _reexported_data_comment)
    app.connect("autodoc-process-bases", _public_bases)
    app.connect("autodoc-skip-member", _skip_sklearn_members)
