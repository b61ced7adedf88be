"""AesFA (Kwon, Kim et al., AAAI 2024): octave convolutions and style-predicted kernels.

``AesFA`` is the style method (``method``); ``read_model`` / ``save_model`` the ``main.pth``
file (``modelfile``); training lives in ``aesfa.train`` (imported on demand: it needs the data
pipeline).
"""

from .method import AesFA, Bands, StyleCode, combine
from .modelfile import check_file, read_model, save_model

__all__ = ["AesFA", "Bands", "StyleCode", "check_file", "combine", "read_model", "save_model"]
