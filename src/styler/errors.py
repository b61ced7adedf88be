"""Domain errors. The core raises these; only the CLI turns them into exit codes.

Every message is one line that names the problem and, where there is one, the fix.
"""


class StylerError(Exception):
    """A problem the user can fix (bad input, missing weights, bad option)."""


class InputError(StylerError):
    """An input file or option value is unusable."""


class WeightsError(StylerError):
    """Weights are missing, corrupt, of the wrong layout, or cannot be fetched."""


class OutputError(StylerError):
    """An output path cannot be written (or would overwrite an input)."""


class DeviceError(StylerError):
    """The requested device or precision is not available here."""


class Interrupted(Exception):
    """Ctrl-C or SIGTERM during a long computation; ``partial`` is the best result so far
    (for example the best image of a Gatys optimisation), or None."""

    def __init__(self, partial: object = None) -> None:
        super().__init__("interrupted")
        self.partial = partial
