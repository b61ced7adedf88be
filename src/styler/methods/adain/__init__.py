"""AdaIN (Huang & Belongie 2017): the method (``method``), its decoder training (``config``, ``train``)."""
