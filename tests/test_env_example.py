"""`.env.example` documents every setting."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from aiaas.config import ENV_PREFIX, Settings

ROOT = Path(__file__).resolve().parent.parent


def _names(model: type[BaseModel], prefix: str) -> list[str]:
    names = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names.extend(_names(annotation, f"{prefix}{name.upper()}__"))
        else:
            names.append(f"{prefix}{name.upper()}")
    return names


def test_every_setting_is_documented() -> None:
    text = (ROOT / ".env.example").read_text()
    missing = [name for name in _names(Settings, ENV_PREFIX) if f"{name}=" not in text]
    assert not missing, f"add to .env.example: {missing}"
