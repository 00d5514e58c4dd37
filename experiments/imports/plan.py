from dataclasses import dataclass, field
from typing import Any

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff")


@dataclass
class Planned:
    """One stimulus to import: where its bytes are, and what the manifest or layout says of it."""

    member: str  # name in the source
    name: str  # Stimulus.name
    prompt: str
    generator: str = ""
    position: int | None = None
    role: str = "test"
    row: int | None = None  # manifest row (1 = header), or prompt sheet row
    categories: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    reference_scores: dict[str, float] = field(default_factory=dict)
