"""The user-facing error type: one line that names what is wrong and what is accepted."""


class GhnasError(Exception):
    """Bad input from the user (config, dataset, architecture, checkpoint).

    ``tools/train_net.py`` prints its message on one line and exits non-zero without a
    traceback; library callers may catch it like any exception.
    """
