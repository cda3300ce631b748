"""Read rectangular regions of a slide image, padding outside it with white.

The image is either an array in ``uns['spatial'][library_id]['images']`` or, for the full-res
image, a TIFF on disk that is read region by region (never loaded whole).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from anndata import AnnData

from .. import _keys
from .._errors import ImageError
from .._validation import check_image_array, fullres_image_path

BACKGROUND = 1.0  # white, the colour of glass


class RegionReader:
    """Regions of an image as float32 RGB in ``[0, 1]``, padded with white outside it.

    Parameters
    ----------
    image
        ``(H, W, 3)`` float RGB in ``[0, 1]``, or (``lazy``) an ``(H, W[, 3|4])`` memmap or zarr
        array whose regions are converted as they are read (float TIFFs must be in ``[0, 1]``).
    name
        Name used in error messages.
    lazy
        ``image`` is on disk; regions are read and converted one at a time.
    """

    def __init__(self, image: Any, name: str, *, lazy: bool = False) -> None:
        self.image = image
        self.name = name
        self.lazy = lazy
        self.height, self.width = int(image.shape[0]), int(image.shape[1])

    def read(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        """Pixels ``[y0, y1) x [x0, x1)`` as ``(y1 - y0, x1 - x0, 3)``; outside is white."""
        out = np.full((y1 - y0, x1 - x0, 3), BACKGROUND, dtype=np.float32)
        cy0, cy1 = max(y0, 0), min(y1, self.height)
        cx0, cx1 = max(x0, 0), min(x1, self.width)
        if cy0 < cy1 and cx0 < cx1:
            region = self.image[cy0:cy1, cx0:cx1]
            if self.lazy:
                region = check_image_array(np.asarray(region), self.name)
            out[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0] = region
        return out


def _open_tiff(path: Path) -> Any:
    """The first (full-resolution) level of a TIFF, lazily: a memmap when it is uncompressed
    and contiguous (any region is cheap), else a zarr array read chunk by chunk."""
    import tifffile
    import zarr

    try:
        arr: Any
        try:
            arr = tifffile.memmap(path, mode="r")
        except ValueError:  # compressed or not contiguous
            arr = zarr.open(tifffile.imread(path, aszarr=True), mode="r")
    except (OSError, ValueError, tifffile.TiffFileError) as err:
        raise ImageError(
            f"cannot read the full-resolution image {str(path)!r} ({err}). Check the file is a "
            "readable TIFF, or pass image='hires' / image='lowres' to use the smaller images."
        ) from None
    if isinstance(arr, zarr.Group):  # a pyramid: level 0 is the full resolution
        arr = arr["0"]
    if arr.ndim == 3 and arr.shape[0] in (3, 4) and arr.shape[2] not in (3, 4):
        raise ImageError(
            f"the TIFF {str(path)!r} stores colour planes first (shape {arr.shape}); save it "
            "as (height, width, RGB), e.g. with tifffile.imwrite(path, image, photometric='rgb')."
        )
    return arr


def open_image(adata: AnnData, library_id: str, image: str) -> RegionReader:
    """A :class:`RegionReader` on ``image`` (``"fullres"``, ``"hires"`` or ``"lowres"``).

    Reads ``uns['spatial'][library_id]['images'][image]``, or for ``"fullres"`` the TIFF at
    ``uns['spatial'][library_id]['metadata']['source_image_path']``, region by region.
    """
    if image == "fullres":
        path = fullres_image_path(adata, library_id)
        if path is None:
            raise ImageError(
                f"library {library_id!r} has no full-resolution image file. Set uns['spatial']"
                f"[{library_id!r}]['metadata']['source_image_path'] to the TIFF, or pass "
                "image='hires' / image='lowres'."
            )
        return RegionReader(_open_tiff(path), f"full-resolution ({path})", lazy=True)
    value = adata.uns[_keys.SPATIAL][library_id]["images"][image]
    return RegionReader(check_image_array(value, image), image)
