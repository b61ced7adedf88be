"""Jobs over many files: pairing, naming, the runner, manifest, loader processes, style cache, video."""
