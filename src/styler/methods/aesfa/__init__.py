"""AesFA (Kwon, Kim et al., AAAI 2024): octave convolutions and style-predicted kernels.

The method (``method``: ``load``, ``AesFA``), its networks (``net``, ``layers``, ``ops``), exact
tiling (``tiling``), the ``main.pth`` file (``modelfile``) and training (``config``, ``train``,
``losses``; imported on demand).
"""
