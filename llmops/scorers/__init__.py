"""Scorers: the registry, the built-in scorers and the decorator for your own.

```python
from llmops.scorers import Sample, scorer

@scorer("mentions_policy", version="1")
def mentions_policy(section: str = "refunds"):
    def check(sample: Sample) -> bool:
        return section in sample.output
    return check
```
"""

from llmops.scorers.agreement import judge_agreement
from llmops.scorers.base import Sample, Score, Scorer, ScorerContext, ScorerFactory
from llmops.scorers.registry import CheckedScorer, build_scorers, get, known, scorer

__all__ = [
    "CheckedScorer",
    "Sample",
    "Score",
    "Scorer",
    "ScorerContext",
    "ScorerFactory",
    "build_scorers",
    "get",
    "judge_agreement",
    "known",
    "scorer",
]

