"""Networks shared by methods: the normalised VGG-19 (``vgg``) and the weights table (``weights``)."""
