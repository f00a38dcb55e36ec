"""Gallery image scraper for the examples: they save their plots to PNG
files (and close the figures) instead of leaving figures open, so the
matplotlib scraper finds nothing. This one moves each PNG an example wrote
into its own folder during the build into the gallery's image slots."""
import pathlib
import shutil
import time

_BUILD_START = time.time()


def written_images(block, block_vars, gallery_conf):
    """The reST for the PNGs written next to the example since the build began."""
    from sphinx_gallery.scrapers import figure_rst
    folder = pathlib.Path(block_vars["src_file"]).parent
    written = []
    for png in sorted(folder.glob("*.png")):
        if png.stat().st_mtime < _BUILD_START:
            continue
        target = next(block_vars["image_path_iterator"])
        shutil.move(str(png), target)
        written.append(target)
    return figure_rst(written, gallery_conf["src_dir"])
