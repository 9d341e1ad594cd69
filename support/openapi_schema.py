"""Building blocks of the OpenAPI 3.1 documents the local servers publish (pure).

The daemon's control API and the rental service describe their JSON with JSON Schema
2020-12; these are the two shapes every one of their schemas is made of.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Schema", "object_schema", "ref"]

Schema = dict[str, Any]


def ref(name: str) -> Schema:
    """A reference to ``components.schemas.NAME``."""
    return {"$ref": f"#/components/schemas/{name}"}


def object_schema(properties: dict[str, Schema], *,
                  required: list[str] | None = None) -> Schema:
    """A closed object (no other properties); every property is required unless
    ``required`` names the ones that are."""
    return {"type": "object", "properties": properties,
            "required": list(properties) if required is None else required,
            "additionalProperties": False}
