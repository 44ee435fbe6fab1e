"""Order of the examples in the gallery: from the first steps to the details."""

from __future__ import annotations

ORDER = (
    "plot_quickstart.py",
    "plot_finetuning.py",
    "plot_grid_search.py",
    "plot_long_windows.py",
    "plot_save_load.py",
)


class ExampleOrder:
    """sphinx-gallery sort key: the files of ``ORDER`` first, in that order, then the rest."""

    def __init__(self, src_dir: str) -> None:
        self.src_dir = src_dir

    def __call__(self, filename: str) -> tuple[int, str]:
        rank = ORDER.index(filename) if filename in ORDER else len(ORDER)
        return rank, filename

    def __repr__(self) -> str:  # stable, so that Sphinx does not see a changed configuration
        return f"<{type(self).__name__}>"
