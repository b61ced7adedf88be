"""Curve-based style transfer for line drawings (Chen, Kara & Cagan, CMU, 2023): vectorise a sketch into
cubic Bezier centre lines (``vectorise``), edit each curve by bounded, explainable rules (``rules``),
render the curves differentiably (``render``) and optimise the rules' parameters under a Gram style
loss (``optimise``); a result is curves as SVG, a raster and a report (``result``). ``method`` is the
style method; settings are in ``config``."""
