"""Gate results in the forms CI systems read: JUnit XML (one test case per check), GitHub Actions
workflow commands (an `::error` annotation per failed check) and the job's step summary.

Pure functions except `append_step_summary`, which appends to the file GitHub names.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from pathlib import Path

from bench.analysis.gate import Check

SUITE = "corebench gate"


def junit_xml(checks: Sequence[Check], properties: Mapping[str, str] | None = None) -> str:
    """A JUnit XML document: one <testcase> per check (classname = run, name = rule), a
    <failure> with the measured value and the limit for each failed one."""
    failed = [c for c in checks if c.failed]
    skipped = [c for c in checks if c.inconclusive]
    root = ET.Element("testsuites", name=SUITE, tests=str(len(checks)), failures=str(len(failed)))
    suite = ET.SubElement(root, "testsuite", name=SUITE, tests=str(len(checks)),
                          failures=str(len(failed)), errors="0", skipped=str(len(skipped)))
    if properties:
        props = ET.SubElement(suite, "properties")
        for key, value in properties.items():
            ET.SubElement(props, "property", name=key, value=value)
    for c in checks:
        case = ET.SubElement(suite, "testcase", classname=f"corebench.gate.{c.run}", name=c.rule)
        text = f"{c.run}: {c.rule}: measured {c.measured}, limit {c.limit}"
        if c.inconclusive:  # not judged: JUnit's "skipped", with the reason
            ET.SubElement(case, "skipped", message=f"inconclusive: {c.inconclusive}").text = text
        elif c.passed:
            ET.SubElement(case, "system-out").text = text
        else:
            ET.SubElement(case, "failure", message=text, type="GateCheckFailed").text = (
                f"{text}\nSee runbooks/gate-failed.md for what the rule means."
            )
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _escape_data(text: str) -> str:
    # GitHub's workflow-command escaping (toolkit's command.ts): data, then property values.
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_annotations(checks: Sequence[Check], rules_file: str | None = None) -> list[str]:
    """`::error` per failed check and `::warning` per inconclusive one (on the rules file, when
    there is one), then one `::notice`."""
    out = []
    where = f"file={_escape_property(rules_file)}," if rules_file else ""
    for c in checks:
        if c.failed or c.inconclusive:
            level = "warning" if c.inconclusive else "error"
            title = _escape_property(f"corebench gate: {c.run} {c.rule}")
            text = f"{c.run}: {c.rule} measured {c.measured}, limit {c.limit}"
            if c.inconclusive:
                text += f"; inconclusive: {c.inconclusive}"
            out.append(f"::{level} {where}title={title}::" + _escape_data(text))
    passed = sum(c.result == "pass" for c in checks)
    out.append(f"::notice title={_escape_property(SUITE)}::{passed} of {len(checks)} checks passed")
    return out


def in_github_actions(environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    return env.get("GITHUB_ACTIONS") == "true"


def append_step_summary(markdown: str, environ: Mapping[str, str] | None = None) -> Path | None:
    """Append to $GITHUB_STEP_SUMMARY (several steps share the file); None when it is not set."""
    env = os.environ if environ is None else environ
    target = env.get("GITHUB_STEP_SUMMARY")
    if not target:
        return None
    path = Path(target)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(markdown.rstrip("\n") + "\n\n")
    return path
