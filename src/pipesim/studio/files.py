"""The studio's files: only inside its scenario folder, never through a link out of it.

Every path the page names (a scenario to open, a what-if to save) is relative to the scenario
folder; :func:`inside` refuses an absolute path, a ``..`` part, and a path that leaves the folder
once symbolic links are resolved. :func:`scenario_files` lists the folder's scenarios the same way.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

SUFFIXES = (".yaml", ".yml")
"""What counts as a scenario file."""


class FileError(ValueError):
    """A path outside the scenario folder, or not a scenario file."""


def inside(folder: Path, relative: str, *, must_exist: bool = True) -> Path:
    """``folder / relative`` resolved, or :class:`FileError` if it would leave ``folder``.

    Parameters
    ----------
    folder
        The scenario folder.
    relative
        A path relative to it, with ``/`` between parts.
    must_exist
        Refuse a file that is not there.
    """
    text = (relative or "").strip()
    pure = PurePosixPath(text.replace("\\", "/"))
    if not text or pure.is_absolute() or Path(text).is_absolute() or ":" in pure.parts[0]:
        raise FileError(f"{text!r}: give a path inside the scenario folder, not an absolute one")
    if any(part == ".." for part in pure.parts):
        raise FileError(f"{text!r}: '..' is not allowed; the studio stays in its scenario folder")
    if pure.suffix not in SUFFIXES:
        raise FileError(f"{text!r}: a scenario file ends in .yaml")
    root = folder.resolve()
    path = (root / Path(*pure.parts)).resolve()
    if not path.is_relative_to(root):
        raise FileError(f"{text!r}: leads outside the scenario folder (a link?); refused")
    if must_exist and not path.is_file():
        raise FileError(f"{text!r}: no such scenario in {folder}")
    return path


def scenario_files(folder: Path) -> list[str]:
    """Scenario files under ``folder`` (relative, ``/``-separated, sorted); links out skipped."""
    root = folder.resolve()
    out = []
    for path in sorted(root.rglob("*")):
        if path.suffix not in SUFFIXES or path.name.startswith("."):
            continue
        if not path.resolve().is_relative_to(root) or not path.is_file():
            continue
        out.append(path.relative_to(root).as_posix())
    return out
