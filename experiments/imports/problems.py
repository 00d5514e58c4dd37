from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One reason an import is refused, pointing at the manifest row and/or file."""

    message: str
    file: str = ""
    row: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"message": self.message, "file": self.file, "row": self.row}

    def __str__(self) -> str:
        where = []
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.file:
            where.append(self.file)
        return f"{', '.join(where)}: {self.message}" if where else self.message


def problem_text(data: dict[str, Any]) -> str:
    """The display text of a stored problem (StimulusImport.problems holds `as_dict()` values)."""
    return str(Problem(message=data.get("message", ""), file=data.get("file", ""), row=data.get("row")))
