"""The error a user can fix: raised anywhere below the commands, printed by them as one line."""


class RunError(RuntimeError):
    """A problem with the run's inputs (a model folder, a data folder, the devices), explained
    in one line that says what to change."""
