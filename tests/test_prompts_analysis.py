"""The fast variable analysis agrees with jinja2.meta on every template."""

from __future__ import annotations

import pytest

from llmops.prompts.analysis import analyse, undeclared_by_meta
from llmops.prompts.render import environment

TEMPLATES = [
    "plain text, no variables",
    "{{ question }}",
    "{{ a }} and {{ b.c }} and {{ d['e'] }} and {{ f(g, h=i) }}",
    "{{ a|default(b)|upper }} {{ c is defined }} {{ d if e else f }}",
    "{{ [a, b] }} {{ {'k': c} }} {{ (d, e) }} {{ x ~ y }} {{ -z }} {{ n + 1 }}",
    "{% if a %}{{ b }}{% elif c %}{{ d }}{% else %}{{ e }}{% endif %}",
    "{% for x in items %}{{ x }}{{ loop.index }}{% endfor %}",
    "{% for x in items %}{{ x }}{% else %}{{ x }} none{% endfor %}",
    "{% for x in items if x.ok %}{{ x }}{% endfor %}{{ x }}",
    "{% for k, v in pairs %}{{ k }}={{ v }}{{ other }}{% endfor %}",
    "{% for x in xs %}{% for y in x %}{{ y }}{{ x }}{{ loop.depth }}{% endfor %}{% endfor %}",
    "{% for x in x %}{{ x }}{% endfor %}",
    "{{ loop }}",
    "{% for c in context %}[{{ loop.index }}] {{ c.text }}\n{% endfor %}Q: {{ question }}",
    "{{ range(3)|list }} {{ lipsum }} {{ dict(a=1) }} {{ namespace }} {{ cycler }} {{ joiner }}",
    "{% for x in items recursive %}{{ loop(x.children) }}{% endfor %}",
    # statements the fast walk hands to jinja2.meta
    "{% set a = b %}{{ a }}{{ c }}",
    "{{ a }}{% set a = 1 %}",
    "{% if x %}{% set y = 1 %}{% endif %}{{ y }}",
    "{% macro m(p) %}{{ p }}{{ q }}{% endmacro %}{{ m(r) }}",
    "{% with a = b %}{{ a }}{{ c }}{% endwith %}",
    "{% set ns = namespace(n=0) %}{% for i in items %}{% set ns.n = ns.n + i %}{% endfor %}",
    "{% filter upper %}{{ a }}{% endfilter %}",
    "{% call m() %}{{ b }}{% endcall %}",
    "{% raw %}{{ not_a_variable }}{% endraw %}{{ real }}",
]


@pytest.mark.parametrize("source", TEMPLATES)
def test_same_variables_as_jinja_meta(source: str) -> None:
    tree = environment().parse(source)
    reads, unsafe = analyse(tree)
    assert reads == undeclared_by_meta(tree)
    assert unsafe is None


@pytest.mark.parametrize(
    ("source", "names"),
    [
        ("{{ a.__class__.__mro__ }}", "'__class__', '__mro__'"),
        ("{% set x = y._private %}{{ x }}", "'_private'"),
        ("{{ a['__dict__'] }}", "'__dict__'"),
        ("{% for i in a|attr('__subclasses__') %}{{ i }}{% endfor %}", "'__subclasses__'"),
    ],
)
def test_unsafe_names(source: str, names: str) -> None:
    _, unsafe = analyse(environment().parse(source))
    assert unsafe == (names, 1)
