"""Exception classes. Every error about the user's input derives from :class:`InputError`.

The CLI maps :class:`InputError` to exit code 2 and prints only its message: each message
names the problem and how to fix it.
"""

from __future__ import annotations


class SpatialfuseError(Exception):
    """Base class of every error raised on purpose by spatialfuse."""


class InputError(SpatialfuseError, ValueError):
    """The input data or a parameter is unusable; the message says how to fix it."""


class LayoutError(InputError):
    """The AnnData is not in the Visium layout, or a Space Ranger folder is incomplete."""


class CountsError(InputError):
    """The count matrix holds NaN, infinite or negative values, or is empty."""


class ImageError(InputError):
    """The tissue image is missing, unreadable, or of an unsupported type."""


class ScaleFactorError(InputError):
    """Scale factors are missing or put the spots outside the image."""


class BarcodeError(InputError):
    """Barcodes are duplicated, or positions and matrix do not share them."""


class ParameterError(InputError):
    """A parameter value is out of range for the data (e.g. more domains than spots)."""


class DownloadError(SpatialfuseError):
    """A data set could not be downloaded or failed its checksum."""


class OutputExistsError(InputError):
    """The output folder exists and is not empty; pass ``overwrite=True`` / ``--overwrite``."""
