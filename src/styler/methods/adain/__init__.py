"""AdaIN (Huang & Belongie 2017): the method and its decoder training."""
