"""User-facing errors: the CLI prints these as one clear line and exits non-zero, never a torch traceback."""


class OmnivecError(Exception):
    """Bad input, config or file: the message names what was given and what was expected."""


class DataError(OmnivecError):
    """A data file could not be read or has the wrong content; ``path`` names it."""

    def __init__(self, path: object, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


class TooLarge(DataError):
    """An input whose decoded size, read from its header before anything is decoded, exceeds a limit;
    ``option`` names the :class:`~omnivec.data.readers.ReadOptions` field that sets the limit."""

    def __init__(self, path: object, what: str, size: int, limit: int, option: str) -> None:
        super().__init__(path, f"too large: {what} {size:,} exceeds the limit of {limit:,} (ReadOptions.{option})")
        self.size, self.limit, self.option = size, limit, option


class OutsideRoot(DataError):
    """A path in a data file (a TSV image column, a manifest row) that resolves outside the folder it must stay
    in: absolute, ``..`` or a symbolic link out of it. It is never opened."""

    def __init__(self, path: object, root: object) -> None:
        super().__init__(path, f"outside the data folder {root}: refused, not opened (paths must stay inside it)")
        self.root = str(root)


class CheckpointError(OmnivecError):
    """A pretrained checkpoint that cannot be imported (unknown ``model_type``, a missing or misshapen tensor, a
    pickle that is not plain tensors); ``path`` names the file and ``key`` the entry, where there is one."""

    def __init__(self, path: object, reason: str, key: str = "") -> None:
        super().__init__(f"{path}: {f'{key}: ' if key else ''}{reason}")
        self.path = str(path)
        self.key = key
        self.reason = reason
