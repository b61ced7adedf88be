"""AesFA (Kwon, Kim et al., AAAI 2024): octave convolutions and style-predicted kernels."""
