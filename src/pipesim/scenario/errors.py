"""What is wrong with a scenario, as the user is told it.

A :class:`Problem` names one mistake: the key path, the message, and where it was made (file
line and column, or the override or file that set the value). A :class:`ScenarioError` carries
every problem found in one scenario. :func:`did_you_mean` suggests the closest allowed name for
a misspelt one.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field

from pipesim.scenario.edit import KeyPath, format_path


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a scenario."""

    path: KeyPath
    message: str
    line: int | None = None
    column: int | None = None
    origin: str | None = None

    def render(self, source: str) -> str:
        """Format as ``file:line:col: key: message``."""
        where = self.origin or source
        if self.line is not None:
            where += f":{self.line}:{self.column}"
        key = format_path(self.path) if self.path else "(top level)"
        return f"{where}: {key}: {self.message}"


@dataclass
class ScenarioError(Exception):
    """A scenario (file, overrides) that cannot be used; carries every problem found."""

    source: str
    problems: list[Problem] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [p.render(self.source) for p in self.problems]
        return "\n".join(lines)


def did_you_mean(word: str, choices: Iterable[str], cutoff: float = 0.6) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest choice, or ``""``."""
    choices = list(choices)
    same_but_case = [c for c in choices if c.lower() == word.lower() and c != word]
    guess = same_but_case or difflib.get_close_matches(word, choices, n=1, cutoff=cutoff)
    return f" (did you mean {guess[0]!r}?)" if guess else ""
