"""Finding the README's numbers in what a command prints (tests/test_readme_numbers.py).

A README number is a number of its prose or tables outside code spans (`--holdout 2` is an input)
and outside identifiers (mini-3, W0.01); it matches an output number that, rounded to the README's
last printed digit, reads the same (0.0044 matches 0.004376; 2.42e15 matches 2.42e+15; 4e7x
matches 4.1e+07x). A percentage matches a printed percentage or a printed fraction (1.36% matches
0.0136); a README number without a sign matches either sign (prose says 'lower' or 'worse').
Numbers quoted together (a value and its interval, a table row) must be printed together, in order
on one line of the output.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from test_quoted_numbers import rounds_to

DIGITS = re.compile(r"(\d{1,3}(?:,\d{3})+(?![\d,])|\d+(?:\.\d+)?|\.\d+)(?:[eE]([+-]?\d+))?")
CODE_SPAN = re.compile(r"`[^`]*`")


@dataclass(frozen=True)
class Number:
    printed: str  # as written, thousands commas dropped: '-0.01', '2.42e15', '1146880'
    value: float
    percent: bool  # written with % (or the first end of a range 'a-b%')
    start: int  # where it is in the text it was read from
    end: int


def flat(text: str) -> str:
    """The text with every run of whitespace one space, so that line wraps never matter."""
    return " ".join(text.split())


def numbers(text: str, code: bool = False) -> list[Number]:
    """The numbers of a text, signed where a sign stands before them (not a range's hyphen:
    '0.06-0.37' is two positive numbers), skipping digits of identifiers (mini-3, D1146880, t_nu)
    and, unless ``code`` (a command's output), of Markdown code spans."""
    blank = text if code else CODE_SPAN.sub(lambda m: " " * len(m.group()), text)
    found = []
    for m in DIGITS.finditer(blank):
        s, e = m.start(), m.end()
        before = blank[s - 1] if s else " "
        if before.isalpha() or before in "_.":
            continue  # W0.01, step143000, t_nu2, and the digits after a dot already read
        if before == "-" and s > 1 and (blank[s - 2].isalpha() or blank[s - 2] == "_"):
            continue  # mini-3, pythia-160m
        after = blank[e] if e < len(blank) else " "
        if after.isalpha() and not (after == "x" and (e + 1 == len(blank) or not blank[e + 1].isalpha())):
            continue  # 160m, 3.3B, 25k: a name or a unit this test does not read
        sign = ""
        if before in "+-\u2212" and (s == 1 or not (blank[s - 2].isalnum() or blank[s - 2] in ")]%")):
            sign, s = ("-" if before != "+" else "+"), s - 1
        printed = sign + m.group(1).replace(",", "") + (f"e{m.group(2)}" if m.group(2) else "")
        found.append(Number(printed, float(printed), after == "%", s, e))
        if code and "," in m.group(1):  # an output's '263,426,261,263' may be a list of steps
            found += [Number(part, float(part), False, s, e) for part in m.group(1).split(",")]
    for i, n in enumerate(found[:-1]):  # 94-98%: both ends are percentages
        nxt = found[i + 1]
        if nxt.percent and not n.percent and blank[n.end:nxt.start] in ("-", "\u2013"):
            found[i] = Number(n.printed, n.value, True, n.start, n.end)
    return found


def passage(readme: str, start: str, end: str | None, name: str = "README") -> str:
    """The text of a Markdown file (the README, or the file ``name`` names in messages) from the
    anchor ``start`` to the end of the first ``end`` after it (``None``: to the end of the file),
    as written (its table rows one a line); a space in an anchor matches any line wrap."""
    def find(anchor, at):
        return re.compile(r"\s+".join(map(re.escape, anchor.split()))).search(readme, at)
    first = find(start, 0)
    assert first, f"{name}: no passage starts with {start!r} (its anchor moved or was reworded)"
    if end is None:
        return readme[first.start():]
    last = find(end, first.end())
    assert last, f"{name}: the passage {start!r} does not end with {end!r} (reworded?)"
    return readme[first.start():last.end()]


def groups(text: str, found: list[Number]) -> list[list[Number]]:
    """Numbers that the README quotes together, which the output must print in that order on one
    line: a value and its interval '0.42 [0.38, 0.53]', an interval '[0.26, 1.15]', a mean and its
    maximum '1.36% (2.86%)', and a table row's cells after the first (its label)."""
    together = []
    at = 0
    lines = text.splitlines(keepends=True)
    for i, line in enumerate(lines):
        header = i + 1 < len(lines) and re.fullmatch(r"[|\-: ]+", lines[i + 1].strip()) is not None
        if line.lstrip().startswith("|") and not header:
            label_end = at + line.index("|", line.index("|") + 1)
            row = [n for n in found if label_end < n.start < at + len(line)]
            if len(row) > 1:
                together.append(row)
        at += len(line)

    def between(a, b, pattern):
        return re.fullmatch(pattern, text[a:b]) is not None
    for i, n in enumerate(found):
        nxt = found[i + 1:i + 3]
        if len(nxt) == 2 and between(n.end, nxt[0].start, r"%?\s*\[") and \
                between(nxt[0].end, nxt[1].start, r"%?,\s*") and text[nxt[1].end:].lstrip("%").startswith("]"):
            together.append([n, *nxt])
        elif nxt and text[n.start - 1:n.start] == "[" and between(n.end, nxt[0].start, r"%?,\s*") \
                and text[nxt[0].end:].lstrip("%").startswith("]") and not (
                    i and between(found[i - 1].end, n.start, r"%?\s*\[")):
            together.append([n, nxt[0]])
        elif nxt and between(n.end, nxt[0].start, r"%?\s*\(") and text[nxt[0].end:].lstrip("%").startswith(")"):
            together.append([n, nxt[0]])
    return together


def printed_together(group: list[Number], output: str) -> bool:
    """Whether one line of the output prints numbers matching the group's in its order, at most
    one other number between two of them (a table's sd column between a value and its interval)."""
    def rest(line, at, members):
        return not members or any(matches(members[0], line[j]) and rest(line, j + 1, members[1:])
                                  for j in range(at, min(at + 2, len(line))))
    for text_line in output.splitlines():
        line = numbers(text_line, code=True)
        if any(matches(group[0], o) and rest(line, i + 1, group[1:]) for i, o in enumerate(line)):
            return True
    return False


def matches(readme_number: Number, output_number: Number) -> bool:
    """Whether the output number, rounded to the README number's last digit, reads it."""
    printed = readme_number.printed
    values = [output_number.value]
    if readme_number.percent and not output_number.percent:
        values.append(100 * output_number.value)  # a fraction printed in a table
    if printed[0] not in "+-":
        values += [abs(v) for v in values]
    return any(rounds_to(v, printed) for v in values)


def context(text: str, n: Number, width: int = 30) -> str:
    """A few words either side of a number, on one line."""
    return "..." + flat(text[max(0, n.start - width):n.end + width]) + "..."


def closest(readme_number: Number, output_numbers: list[Number], k: int = 3) -> list[Number]:
    """The output numbers nearest the README's (relative distance), for the failure message."""
    def distance(o):
        values = [o.value] + ([100 * o.value] if readme_number.percent and not o.percent else [])
        return min(abs(abs(v) - abs(readme_number.value)) / max(abs(readme_number.value), 1e-300)
                   for v in values)
    return sorted(output_numbers, key=distance)[:k]


def disagreements(text: str, output: str, allowed: dict[str, str], name: str = "README") -> list[str]:
    """One line per number of the README passage ``text`` that the command's ``output`` does not
    print, and per group of numbers (``groups``) that it does not print together, naming it, its
    context and the output's closest numbers. Numbers inside a phrase of ``allowed`` (phrase ->
    why it is no output) are not looked for; a phrase the passage no longer holds, or one without
    a number, is a disagreement too (the allow-list went stale). ``name`` names the file in them."""
    found = numbers(text)
    spans = []
    problems = []
    for phrase in allowed:
        pattern = re.compile(r"\s+".join(map(re.escape, phrase.split())))
        at = [(m.start(), m.end()) for m in pattern.finditer(text)]
        if not any(a <= n.start and n.end <= b for a, b in at for n in found):
            problems.append(f"allow-list phrase {phrase!r} is not in the passage or holds no number")
        spans += at
    checked = [n for n in found if not any(a <= n.start and n.end <= b for a, b in spans)]
    out = numbers(output, code=True)
    for n in checked:
        if not any(matches(n, o) for o in out):
            near = ", ".join(f"{o.printed}{'%' if o.percent else ''} ({context(output, o, 20)})"
                             for o in closest(n, out))
            problems.append(f"{name} {n.printed}{'%' if n.percent else ''} in {context(text, n)!r}: "
                            f"not in the output; closest there: {near}")
    for group in groups(text, found):
        if all(n in checked for n in group) and not printed_together(group, output):
            lines = [line.strip() for line in output.splitlines()
                     if any(matches(group[0], o) for o in numbers(line, code=True))][:3]
            problems.append(f"{name} {' '.join(n.printed for n in group)} in "
                            f"{flat(text[group[0].start - 30:group[-1].end + 30])!r}: not printed together "
                            f"in this order on one line; lines with its first number: {lines}")
    return problems
