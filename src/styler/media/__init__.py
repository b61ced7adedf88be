"""The I/O edge: images, video streams, region masks and atomic files (files in, float RGB [0, 1] NCHW out)."""
