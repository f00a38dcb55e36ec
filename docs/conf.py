"""Sphinx configuration of the pyneural documentation.

Build from the repository root (the kernels built in place, or pyneural
installed):

    python -m sphinx -W -b html docs docs/_build/html
"""
import os
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "docs" / "_ext"))
os.environ.setdefault("MPLBACKEND", "Agg")

import pyneural  # noqa: E402

project = "pyneural"
author = "the pyneural authors"
copyright = "the pyneural authors; CAI Neural API by Joao Paulo Schwarz Schuler"
version = release = pyneural.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
    "pyneural_results",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "auto_examples/*.ipynb",
                    "auto_examples/*.py", "auto_examples/*.zip", "auto_examples/*.md5",
                    "auto_examples/*.json"]
templates_path = ["_templates"]
html_static_path = ["_static"]
html_css_files = ["pyneural.css"]
# Curly quotes and ellipses, but never "--" into a dash: options such as
# --original stay as typed wherever they appear in prose.
smartquotes_action = "qe"

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

autosummary_generate = True
autodoc_default_options = {"members": True}
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_validation_checks = set()
numpydoc_xref_param_type = False

intersphinx_mapping = {
    "python": ("https://docs.python.org/3", None),
    "numpy": ("https://numpy.org/doc/stable", None),
}
intersphinx_disabled_reftypes = ["*"]
# The build must not need the network (CI may be offline): intersphinx only
# when asked for.
if not os.environ.get("PYNEURAL_DOCS_INTERSPHINX"):
    extensions.remove("sphinx.ext.intersphinx")


# Only the examples that run in a second or so are executed on each build;
# the others (MNIST, the digits merges, the width sweep, torch) show their
# code, and their guide pages show the plots they save (docs/_static/plots).
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"(permutation_align|mode_connectivity|train_toy)\.py$",
    "ignore_pattern": r"__init__\.py",
    "image_scrapers": ("pyneural_gallery.written_images",),
    "download_all_examples": False,
    "remove_config_comments": True,
    "plot_gallery": "True",
    "within_subsection_order": "FileNameSortKey",
    "show_memory": False,
    "min_reported_time": 10,
}

html_theme = "pydata_sphinx_theme"
html_title = "pyneural"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    # Six top-level pages, one with a long title, wrapped the header onto
    # three lines at 1300 px: four links, the rest under "More".
    "header_links_before_dropdown": 4,
}
# The section navigation only where a section has pages (the theme drops
# the sidebar where it would be empty, leaving the content the width).
html_sidebars = {"**": ["sidebar-nav-bs"], "benchmarks": [], "SEMANTICS": [], "index": []}
