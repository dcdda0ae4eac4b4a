"""What the span shapes share: attribute lists of OTLP JSON, span ids, attribute names."""

from __future__ import annotations

from typing import Any


def otlp_value(value: Any) -> Any:
    """The plain value of an OTLP ``AnyValue`` (``{"stringValue": ...}`` and the rest)."""
    if not isinstance(value, dict):
        return value
    for key in ("stringValue", "intValue", "doubleValue", "boolValue"):
        if key in value:
            return value[key]
    if "arrayValue" in value:
        return [otlp_value(v) for v in value["arrayValue"].get("values", [])]
    if "kvlistValue" in value:
        return {
            kv.get("key"): otlp_value(kv.get("value"))
            for kv in value["kvlistValue"].get("values", [])
        }
    return value


def attributes(attrs: Any) -> dict[str, Any]:
    """A span's attributes as a mapping, whether given as one or as an OTLP key/value list."""
    if isinstance(attrs, dict):
        return attrs
    if not isinstance(attrs, list):
        return {}
    return {str(a.get("key")): otlp_value(a.get("value")) for a in attrs if isinstance(a, dict)}


def attribute_names(attrs: Any) -> list[str]:
    """The names of a span's attributes (mapping keys or the ``key`` of each list item)."""
    if isinstance(attrs, dict):
        return [str(k) for k in attrs]
    if isinstance(attrs, list):
        return [str(a.get("key", "")) for a in attrs if isinstance(a, dict)]
    return []


def span_id(span: dict[str, Any]) -> Any:
    """The span's id: ``span_id``/``spanId``, or ``context.span_id``."""
    value = span.get("span_id") or span.get("spanId")
    if value is None and isinstance(span.get("context"), dict):
        value = span["context"].get("span_id") or span["context"].get("spanId")
    return value
