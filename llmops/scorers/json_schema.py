"""``json_schema``: the output is JSON that validates against a JSON Schema.

Options:
    schema: the schema inline, as a mapping.
    schema_file: or a path to a JSON (or YAML) schema file, relative to the project root.
    strip_fences: accept JSON wrapped in a Markdown code block (default true).

The schema's ``$schema`` picks the draft (default: the latest jsonschema supports).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from llmops.errors import UserError
from llmops.scorers.base import Sample, Score, ScorerContext
from llmops.scorers.json_valid import parse_json
from llmops.scorers.registry import scorer


class JsonSchema:
    def __init__(self, validator: Any, fences: bool) -> None:
        self.validator = validator
        self.fences = fences

    async def score(self, samples: list[Sample]) -> list[Score]:
        out = []
        for s in samples:
            value, problem = parse_json(s.output, self.fences)
            if problem is None:
                error = next(iter(self.validator.iter_errors(value)), None)
                if error is not None:
                    where = "/".join(str(p) for p in error.absolute_path) or "(root)"
                    problem = f"{where}: {error.message}"[:300]
            else:
                problem = f"not JSON: {problem}"
            out.append(Score.boolean(problem is None, {"reason": problem} if problem else {}))
        return out


def _load_schema(schema_file: str, ctx: ScorerContext) -> Any:
    from llmops._yaml import load_yaml

    path = Path(schema_file)
    if ctx.project is not None and not path.is_absolute():
        path = ctx.project.path(path)
    if path.suffix in (".yaml", ".yml"):
        return load_yaml(path, UserError).data
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError("schema file not found", file=path) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"cannot read JSON schema: {exc}", file=path) from None


@scorer("json_schema", version="1")
def json_schema(
    schema: dict[str, Any] | None = None,
    schema_file: str | None = None,
    strip_fences: bool = True,
    ctx: ScorerContext | None = None,
) -> JsonSchema:
    """The output is JSON matching `schema` (inline) or `schema_file`."""
    import jsonschema
    from jsonschema.validators import validator_for

    if (schema is None) == (schema_file is None):
        raise UserError("scorer 'json_schema': give exactly one of `schema` or `schema_file`")
    if schema_file is not None:
        schema = _load_schema(schema_file, ctx or ScorerContext())
    if not isinstance(schema, dict):
        raise UserError("scorer 'json_schema': the schema must be a mapping")
    cls = validator_for(schema)
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise UserError(f"scorer 'json_schema': invalid schema: {exc.message}") from None
    return JsonSchema(cls(schema), bool(strip_fences))
