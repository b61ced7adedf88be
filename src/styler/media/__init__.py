"""The I/O edge: images, video streams, region masks and atomic files (uint8 and paths in, float RGB [0, 1] NCHW out)."""
