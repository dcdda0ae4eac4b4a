"""The bounded sandbox: bombs refused statically or while rendering, real prompts untouched."""

from __future__ import annotations

from typing import Any

import pytest

from llmops.errors import TemplateError
from llmops.prompts.render import render_text
from llmops.prompts.sandbox import environment
from llmops.prompts.static_limits import find_bomb


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ("{{ ('a' * 100000) * 20000 }}", "2,000,000,000 characters"),
        ("{{ 'a' | center(1000000000) }}", "`center` would build 1,000,000,000"),
        ("{{ 'a'.ljust(1000000000) }}", "`ljust` would build 1,000,000,000"),
        ("{{ [1] | batch(1000000000, 0) | list }}", "`batch` would build"),
        ("{{ '{:>999999999}'.format(1) }}", "`format` would build"),
        ("{{ '%999999999d' % 1 }}", "`%` formatting"),
        ("{{ 2 ** 1000000000 }}", "bits"),
        ("{{ lipsum(n=1000000) }}", "`lipsum`"),
        ("{{ [1] * 100000000 }}", "`*` would build"),
        ("{{ range(10**9) | list }}", "range() would have"),
        ("{% for i in range(1000) %}{% for j in range(1000) %}{% for k in range(10) %}"
         "{% endfor %}{% endfor %}{% endfor %}", "loops run 10,000,000 times"),
    ],
)
def test_constant_bombs_are_found_without_building_them(source: str, words: str) -> None:
    found = find_bomb(environment().parse(source))
    assert found is not None and words in found[0], found
    with pytest.raises(TemplateError, match=r"would|loops|range"):
        render_text(source, {}, what="t")


@pytest.mark.parametrize(
    ("source", "variables", "words"),
    [
        ("{{ q * 100000000 }}", {"q": "ab"}, "200,000,000 characters"),
        ("{{ q | replace('a', q) }}", {"q": "a" * 10_000}, "the filter `replace`"),
        ("{{ q.replace('a', q) }}", {"q": "a" * 10_000}, "`replace` would build"),
        ("{{ ([q] * 5000) | join }}", {"q": "a" * 10_000}, "`*` would build"),
        ("{% set s = q * 5000000 %}{{ (s ~ s) ~ (s ~ s) }}", {"q": "ab"}, "`~` would build"),
        ("{% for a in q %}{% for b in q %}{% for c in q %}{% endfor %}{% endfor %}{% endfor %}",
         {"q": "x" * 200}, "loops run more than 1,000,000"),
        ("{% set t %}{% for i in range(100000) %}{{ q }}{% endfor %}{% endset %}{{ t|length }}",
         {"q": "x" * 1000}, "longer than 10,000,000"),
        ("{% macro m(d) %}{% if d %}{{ m(d-1) }}{{ m(d-1) }}{% endif %}xxxxxxxxxx{% endmacro %}"
         "{{ m(q) }}", {"q": 30}, "longer than 10,000,000"),
        ("{% for i in range(100000) %}{{ q }}{% endfor %}", {"q": "x" * 1000},
         "longer than 10,000,000"),
    ],
)
def test_bombs_built_from_variables_stop_while_rendering(
    source: str, variables: dict[str, Any], words: str
) -> None:
    assert find_bomb(environment().parse(source)) is None
    with pytest.raises(TemplateError) as exc:
        render_text(source, variables, what="t")
    assert words in str(exc.value)


def test_ordinary_templates_render_as_before() -> None:
    source = (
        "{% for c in context %}[{{ loop.index }}] {{ c.text | trim }}\n{% endfor %}"
        "{{ question | upper }} {{ '%-6s|' % 'ab' }} {{ '{:>4}'.format(7) }} {{ 'x' * 3 }}"
        "{{ ', '.join(tags) }} {{ tags | join('/') }} {{ 2 ** 10 }} {{ 'a' ~ 'b' }}"
    )
    context = [{"text": f" chunk {i} "} for i in range(3)]
    out = render_text(source, {"context": context, "question": "why?", "tags": ["a", "b"]},
                      what="t")
    assert out == ("[1] chunk 0\n[2] chunk 1\n[3] chunk 2\n"
                   "WHY? ab    |    7 xxxa, b a/b 1024 ab")


def test_large_numbers_alone_are_not_bombs() -> None:
    source = ("{{ '{:,}'.format(1234567890) }} {{ 1234567890 | filesizeformat }} "
              "{{ '%s * %d' % ('x', 20000000) }} {{ range(20000000, 20000002) | list }} "
              "{{ '{}: {}'.format('q', q) | length }}")
    out = render_text(source, {"q": "x" * 6_000_000}, what="t")
    assert out == ("1,234,567,890 1.2 GB x * 20000000 [20000000, 20000001] 6000003")


def test_a_list_of_undefined_values_is_an_error_not_text() -> None:
    with pytest.raises(TemplateError, match="no attribute 'nope'"):
        render_text("{{ items | map(attribute='nope') | list }}", {"items": [{"a": 1}]},
                    what="t")
    with pytest.raises(TemplateError, match="no attribute 'nope'"):
        render_text("{{ items | map(attribute='nope') | join(',') }}", {"items": [{"a": 1}]},
                    what="t")
