"""junit.xml: one testcase per case and variant, so CI systems show failures natively.

XML 1.0 cannot hold most control characters (``\x00``-``\x1f`` except tab and newlines,
lone surrogates, ``\ufffe``/``\uffff``), not even as character references. A model output
with an ANSI colour code would make the whole file unreadable to the CI, so such
characters are written as visible ``\x1b``-style escapes.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from llmops.eval.result import CaseResult, EvalResult
    from llmops.reports import Report


_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(text: str) -> str:
    """``text`` with every character XML 1.0 cannot hold written as a visible escape."""
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                        else f"\\u{ord(m.group()):04x}", text)


def _failing(case: CaseResult) -> list[str]:
    out = []
    for key, s in case.scores.items():
        if not s.passed:
            shown = "error" if s.value is None else f"{s.value:.3f}"
            out.append(f"{key}={shown}" + (f" ({s.error})" if s.error else ""))
    return out


def junit_xml(result: EvalResult) -> str:
    """The JUnit XML text: a testsuite per variant, a testcase per case (and repeat).

    Outputs and errors arrive masked from the result (:func:`llmops.eval.result.load_cases`).
    """
    root = ET.Element("testsuites", name=xml_text(f"llmops eval {result.suite}"))
    for v in result.variants:
        suite = ET.SubElement(root, "testsuite", name=xml_text(f"{result.suite}/{v.label}"))
        failures = errors = 0
        total_ms = 0.0
        for c in v.cases:
            name = xml_text(c.id if result.repeat == 1 else f"{c.id}#{c.repeat}")
            ms = c.latency_ms or 0.0
            total_ms += ms
            tc = ET.SubElement(
                suite, "testcase", classname=xml_text(f"{result.suite}.{v.label}"), name=name,
                time=f"{ms / 1000:.3f}",
            )
            if c.error is not None:
                errors += 1
                error = xml_text(c.error)
                ET.SubElement(tc, "error", message=error[:500], type="call").text = error
                continue
            bad = _failing(c)
            if bad:
                failures += 1
                text = xml_text("\n".join(bad) + "\n\noutput:\n" + (c.output or ""))
                message = xml_text("; ".join(bad))[:500]
                ET.SubElement(tc, "failure", message=message, type="score").text = text
        suite.set("tests", str(len(v.cases)))
        suite.set("failures", str(failures))
        suite.set("errors", str(errors))
        suite.set("time", f"{total_ms / 1000:.3f}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def render(report: Report) -> str:
    """The report format's entry."""
    return junit_xml(report.result)
