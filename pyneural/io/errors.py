"""The error every reader and writer of net files raises for a bad file."""


class FormatError(ValueError):
    """A weight file or state dict that is not a net pyneural can load (the
    message names the file or key); also a net that cannot be saved."""
