"""Numeric precision as an explicit choice: the names, and how ``"auto"`` picks one.

- ``fp32``: float32 arithmetic everywhere, on every CPU. (Left to itself, OpenVINO computes in
  bfloat16 on CPUs with AVX512_BF16 or AMX, so every engine states the precision it wants.)
- ``bf16``: the fp32 network computed in bfloat16 by OpenVINO, where the CPU has it (Intel
  Xeon with AVX512_BF16 or AMX); refused elsewhere.
- ``int8``: the bundle's INT8 network (post-training quantisation, made at export), the
  operations left unquantised computed in float32; refused for a bundle without one.
- ``auto`` (the default): the fastest of these that the engine and device run and whose top-1
  agreement with fp32 — measured at export on clips like those a live recognizer sees, and
  recorded in the bundle — is at least ``AUTO_MIN_AGREEMENT``; fp32 when none qualifies. int8
  is usually the fastest, but not always: on an AMX Xeon the small bundled model ran bf16 in
  3.2 ms and its INT8 network in 4.8 ms. Where both qualify, the engine times them
  (``Engine._fastest``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

PRECISIONS = ("fp32", "bf16", "int8")
CHOICES = ("auto", *PRECISIONS)
FASTEST_FIRST = ("int8", "bf16", "fp32")  # as a rule (bench/README.md); where both int8 and
# bf16 qualify, the engine times them
AUTO_MIN_AGREEMENT = 0.99


class PrecisionError(ValueError):
    """A precision the engine, the device or the bundle cannot run; says what they have."""


@dataclass(frozen=True)
class Choice:
    """The precision that runs, and one line saying why."""

    precision: str
    reason: str


def check_precision(value: Any) -> str:
    """``value`` if it names a precision choice; else a ValueError naming the choices."""
    if value not in CHOICES or not isinstance(value, str):
        raise ValueError(f"precision must be one of {list(CHOICES)}, got {value!r}")
    return value


def choose(requested: str, refused: Mapping[str, str],
           agreements: Mapping[str, Mapping[str, Any] | None]) -> Choice:  # fmt: skip
    """The precision to run for ``requested``.

    ``refused``: precision -> why this engine, device or bundle cannot run it (absent: it can;
    fp32 always can). ``agreements``: precision -> the bundle's measured agreement with fp32
    (``{"top1_agreement": share, "clips": n}``) or None where it was not measured.
    """
    check_precision(requested)
    if requested != "auto":
        if requested in refused:
            raise PrecisionError(f"precision {requested!r} cannot run here: {refused[requested]}")
        if requested == "fp32":
            return Choice("fp32", "asked for")
        return Choice(requested, f"asked for; {_agreement_text(agreements.get(requested))}")
    passed_over = []
    for precision in FASTEST_FIRST[:-1]:
        why_not = _why_not(precision, refused, agreements)
        if why_not is None:
            why = f"auto: the fastest that runs here and {_agreement_text(agreements[precision])}"
            return Choice(precision, _passed_over(why, passed_over))
        passed_over.append(f"{precision}: {why_not}")
    return Choice("fp32", _passed_over("auto: the reference precision", passed_over))


def qualifying(refused: Mapping[str, str],
               agreements: Mapping[str, Mapping[str, Any] | None]) -> list[str]:  # fmt: skip
    """Every reduced precision ``auto`` may run (it runs here and agrees on >= 99%)."""
    return [p for p in FASTEST_FIRST[:-1] if _why_not(p, refused, agreements) is None]


def _why_not(precision: str, refused: Mapping[str, str],
             agreements: Mapping[str, Mapping[str, Any] | None]) -> str | None:  # fmt: skip
    """Why ``auto`` may not run ``precision`` here; None when it may."""
    agreement = agreements.get(precision)
    if precision in refused:
        return refused[precision]
    if agreement is None:
        return "its agreement with fp32 was not measured for this bundle"
    if agreement["top1_agreement"] < AUTO_MIN_AGREEMENT:
        return f"{_agreement_text(agreement)}, under the {AUTO_MIN_AGREEMENT:.0%} auto asks for"
    return None


def _passed_over(why: str, passed_over: list[str]) -> str:
    return why + (f" (passed over {'; '.join(passed_over)})" if passed_over else "")


def _agreement_text(agreement: Mapping[str, Any] | None) -> str:
    if agreement is None:
        return "its agreement with fp32 was not measured for this bundle"
    return (f"agrees with fp32 on {agreement['top1_agreement']:.1%} of {agreement['clips']} "
            "live-like clips (top-1)")  # fmt: skip
