"""The shared training loop, its checkpoints and data streams; methods supply the objectives."""
