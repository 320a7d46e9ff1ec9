"""The help centre of the demo tenant, Acme Outdoor Co.: Markdown articles with front matter
(``id``, ``title``, ``collection``, ``tags``) and two FAQ files (CSV and JSON)."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

from aiaas.ingestion.parsers import split_front_matter
from aiaas.ingestion.parsers.common import decode_text

_FAQ_FILES = {
    "faq-gear.csv": ("Gear and product FAQ", ("faq", "products", "gear")),
    "faq-services.json": ("Services and company FAQ", ("faq", "services", "stores")),
}
_SUFFIXES = (".md", ".csv", ".json")


@dataclass(frozen=True, slots=True)
class DemoSource:
    """One file of the demo help centre, with the catalogue fields an upload form would carry."""

    document_id: str
    filename: str
    data: bytes
    title: str
    collection: str
    tags: tuple[str, ...]


def demo_sources() -> list[DemoSource]:
    """Every demo file, sorted by file name."""
    sources = []
    package = resources.files(__name__)
    for entry in sorted(package.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(_SUFFIXES):
            continue
        data = entry.read_bytes()
        stem = entry.name.rsplit(".", 1)[0]
        if entry.name in _FAQ_FILES:
            title, tags = _FAQ_FILES[entry.name]
            sources.append(DemoSource(stem, entry.name, data, title, "faq", tags))
            continue
        front_matter, _ = split_front_matter(decode_text(data))
        sources.append(
            DemoSource(
                document_id=str(front_matter.get("id") or stem),
                filename=entry.name,
                data=data,
                title=str(front_matter.get("title") or stem),
                collection=str(front_matter.get("collection") or "general"),
                tags=tuple(str(t) for t in front_matter.get("tags") or ()),
            )
        )
    return sources
