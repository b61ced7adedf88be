"""Conditional instance norm networks (Dumoulin et al. 2017): net, fast inference, tiling, model file, training."""
