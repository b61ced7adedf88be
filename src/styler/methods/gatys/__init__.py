"""Gatys et al. 2016: optimisation of the image itself (``method``; settings in ``config``)."""
