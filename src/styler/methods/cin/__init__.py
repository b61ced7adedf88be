"""Conditional instance norm networks (Dumoulin et al. 2017): the method, net, fast inference, tiling, model
file (``modelfile``) and training (``config``, ``train``)."""
