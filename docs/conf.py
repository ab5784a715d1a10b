"""Sphinx configuration of seqtagger's documentation site.

Pages are Markdown (MyST-Parser), the API reference comes from the package's docstrings
(autodoc). Build: ``sphinx-build -W --keep-going -b html docs <folder outside the checkout>``;
``-W`` turns broken links and missing references into errors.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # document this checkout, not an installed copy

import seqtagger  # noqa: E402  (from the path above)

project = "seqtagger"
author = "seqtagger contributors"
copyright = "seqtagger contributors"
release = version = seqtagger.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
]
source_suffix = {".md": "markdown"}
root_doc = "index"
# the pages are the top-level *.md files; results/, examples/ and the pictures are material that
# pages link to or include, not pages of their own
exclude_patterns = ["_build", "results", "examples", "**/README.md", "conf.py"]

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3  # [text](page.md#a-heading) links resolve and are checked

autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
# type hints name torch, Lightning and Hydra types that this site has no pages for
nitpicky = False

html_theme = "furo"
html_title = "seqtagger"
html_static_path: list[str] = []
