"""Committee votes (R9): the counts a 评审委员会 records and how they decide.

The committee records 应到 (members called), 实到 (present), 同意, 不同意 and 弃权. The meeting is valid only with a
quorum of the members called, and the candidate passes with at least the threshold of the experts present (an
abstention counts as present and not for). Both are policy parameters written as fractions ("2/3": 实到 ≥ 2/3 × 应到;
同意 ≥ 2/3 × 实到 — R9 "committee vote passes with ≥ 2/3 of experts present").

Pure: no database. The counts are checked on the form (webapp) and again by the service that completes the step, so
that the API gets the same answer.
"""

from __future__ import annotations

from fractions import Fraction

__all__ = ["COUNT_FIELDS", "count_errors", "fraction_words", "parse_fraction", "tally"]

COUNT_FIELDS = ("experts_expected", "experts_present", "votes_for", "votes_against", "votes_abstain")
_DIGITS = "零一二三四五六七八九十"


def parse_fraction(text: object) -> Fraction:
    """'2/3' → Fraction(2, 3); a value in (0, 1]. Raises ValueError otherwise."""
    raw = str(text or "").strip()
    try:
        num, den = (int(p) for p in raw.split("/"))
        value = Fraction(num, den)
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"须写成分数，如 2/3（实为“{raw}”）") from None
    if not 0 < value <= 1:
        raise ValueError(f"须在 0 与 1 之间，如 2/3（实为“{raw}”）")
    return value


def fraction_words(value: object) -> str:
    """2/3 → 三分之二 (as the receipt prints it); fractions beyond ten stay as digits."""
    f = parse_fraction(value) if not isinstance(value, Fraction) else value
    num, den = f.numerator, f.denominator
    if num == den:
        return "全部"
    if den <= 10:
        return f"{_DIGITS[den]}分之{_DIGITS[num]}"
    return f"{num}/{den}"


def count_errors(data: dict, quorum: object = "2/3") -> dict[str, str]:
    """Field errors of the counts the form carries: whole numbers ≥ 0, 应到 ≥ 实到, 同意 + 不同意 + 弃权 = 实到, and
    the quorum (a meeting without it cannot vote: the committee meets again)."""
    errors: dict[str, str] = {}
    counts = {k: data.get(k) for k in COUNT_FIELDS if k in data}
    for k, v in counts.items():
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 0):
            errors[k] = "须为不小于 0 的整数"
    if errors:
        return errors
    expected, present, votes = (counts.get(k) for k in ("experts_expected", "experts_present", "votes_for"))
    against, abstain = counts.get("votes_against"), counts.get("votes_abstain")
    if isinstance(expected, int) and isinstance(present, int) and present > expected:
        errors["experts_present"] = f"实到人数（{present}）不能多于应到人数（{expected}）"
    if isinstance(present, int) and isinstance(votes, int) and votes > present:
        errors["votes_for"] = f"同意票数（{votes}）不能多于实到人数（{present}）"
    if (
        "votes_for" not in errors
        and all(isinstance(x, int) for x in (present, votes, against, abstain))
        and votes + against + abstain != present  # type: ignore[operator]
    ):
        errors["votes_abstain"] = (
            f"同意、不同意、弃权票数之和（{votes}+{against}+{abstain}={votes + against + abstain}）"  # type: ignore[operator]
            f"须等于实到人数（{present}）"
        )
    if "experts_present" not in errors and isinstance(expected, int) and isinstance(present, int) and expected > 0:
        q = parse_fraction(quorum)
        if present < q * expected:
            errors["experts_present"] = (
                f"实到 {present} 人，不足应到 {expected} 人的{fraction_words(q)}，会议不足法定人数，表决无效，"
                "请重新组织评审会议"
            )
    return errors


def tally(data: dict, quorum: object = "2/3", threshold: object = "2/3") -> dict:
    """The decision from valid counts: passed when 同意 ≥ threshold × 实到 (and the quorum held)."""
    expected = data.get("experts_expected")
    present = int(data.get("experts_present") or 0)
    votes = int(data.get("votes_for") or 0)
    q, t = parse_fraction(quorum), parse_fraction(threshold)
    quorate = expected is None or present >= q * int(expected)
    passed = quorate and present > 0 and votes >= t * present
    return {
        "passed": bool(passed),
        "quorate": bool(quorate),
        "ratio": f"{votes}/{present}",
        "experts_expected": expected,
        "experts_present": present,
        "votes_for": votes,
        "votes_against": data.get("votes_against"),
        "votes_abstain": data.get("votes_abstain"),
        "quorum": f"{q.numerator}/{q.denominator}",
        "threshold": f"{t.numerator}/{t.denominator}",
    }
