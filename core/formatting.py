"""Numbers and user text as people read them, in one place for the CLI and every page.

Pure functions: no Streamlit, no Keras. `None`, NaN and non-numbers print as an em dash.
"""

from __future__ import annotations

import math
import re

from core.data.datasets import DATASET_INFO
from core.networks.architectures import ARCHITECTURES

DASH = "—"


def _number(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if isinstance(value, bool) or math.isnan(number) else number


def pct(value, digits: int = 1) -> str:
    """0.8861 -> "88.6%"."""
    number = _number(value)
    return DASH if number is None else f"{number:.{digits}%}"


def interval(low, high, digits: int = 1) -> str:
    """An accuracy interval as a range of percentages: "87.3–88.6%"."""
    a, b = _number(low), _number(high)
    return DASH if a is None or b is None else f"{a * 100:.{digits}f}–{b * 100:.{digits}f}%"


def accuracy_interval(metrics: dict) -> tuple[float, float] | None:
    """The 95 % interval of the test accuracy, from the stored interval of the error rate."""
    ci = metrics.get("test_error_ci95")
    return (1 - ci[1], 1 - ci[0]) if isinstance(ci, (list, tuple)) and len(ci) == 2 else None


def accuracy_interval_text(metrics: dict) -> str:
    ci = accuracy_interval(metrics)
    return interval(*ci) if ci else DASH


def sure(probability) -> str:
    """How sure a network was of its answer, never rounded up to a certainty it did not have: "97% sure"."""
    p = _number(probability)
    if p is None:
        return DASH
    return ">99.9% sure" if p > 0.999 else f"{pct(p, 1 if p >= 0.995 else 0)} sure"


def duration(seconds) -> str:
    """12 s, 3 min 05 s, 1 h 02 min: what a person reads at a glance ("under 1 s" for a fraction of one)."""
    number = _number(seconds)
    if number is None or math.isinf(number):
        return DASH
    total = max(0, int(round(number)))
    if total == 0 and number > 0:
        return "under 1 s"
    if total < 60:
        return f"{total} s"
    if total < 3600:
        return f"{total // 60} min {total % 60:02d} s"
    return f"{total // 3600} h {total % 3600 // 60:02d} min"


def p_value(p) -> str:
    """ "p = 0.032", "p < 0.0001" (never 9.76e-87: nobody reads that); three figures near the 5 % threshold, so that
    0.0496 and 0.0504 do not both read "p = 0.05"."""
    number = _number(p)
    if number is None:
        return DASH
    if number < 1e-4:
        return "p < 0.0001"
    if number < 0.01:
        return f"p = {number:.2g}"
    if number < 0.1:
        return f"p = {number:.3g}"
    return f"p = {number:.3f}".rstrip("0").rstrip(".")


def versus(result, top: str, worse: str) -> str:
    """A run against the best one (a core.analysis.versus.Versus): `top` for the best itself, else whether it
    is really `worse` by the paired test, with its p value."""
    if result is None:
        return top
    if result.paired is None:
        return "cannot be compared"
    return f"{worse if result.differs else 'not shown to differ'} ({p_value(result.paired.p_value)})"


def value(v) -> str:
    """A config value: yes/no, 0.001, 32."""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:g}"
    return DASH if v is None else str(v)


def setting(name: str, v) -> str:
    """A config field's value as a person reads it: dataset and network titles, "all" images, L2 "off"."""
    if name == "dataset":
        return DATASET_INFO[v].title if v in DATASET_INFO else value(v)
    if name == "architecture":
        return ARCHITECTURES[v].short_title if v in ARCHITECTURES else value(v)
    if name == "limit" and v == 0:
        return "all"
    if name == "l2" and v == 0:
        return "off"
    if name == "limit" and isinstance(v, int):
        return f"{v:,}"
    return value(v)


# Streamlit renders Markdown, colour and icon directives (:red[...], :material/...:), emoji shortcodes, LaTeX
# ($...$) and HTML-like text in labels and messages; a run name typed by a student must show as typed.
_INLINE = re.compile(r"([\\`*_\[\]$<>~|#])")
_DIRECTIVE = re.compile(r":(?=[A-Za-z0-9_+-])")


def text(user_text) -> str:
    """User text (a run name, an error, a note) escaped for Streamlit Markdown: shown literally, never formatted."""
    escaped = _DIRECTIVE.sub(r"\\:", _INLINE.sub(r"\\\1", str(user_text)))
    escaped = re.sub(r"^(\s*)([-+])(\s)", r"\1\\\2\3", escaped, flags=re.M)  # a list marker at a line's start
    escaped = re.sub(r"^([ \t]*)([=-])(?=[= \t-]*$)", r"\1\\\2", escaped, flags=re.M)  # a heading's underline, a rule
    return re.sub(r"^(\s*)(\d+)\.(\s)", r"\1\2\\.\3", escaped, flags=re.M)


def code(user_text) -> str:
    """User text as an inline code span in Markdown (a run id from the address bar): shown as typed, in monospace.
    Escapes mean nothing inside a code span, so none are added; the fence is longer than any run of backticks in the
    text, and line breaks become spaces."""
    flat = " ".join(str(user_text).splitlines())
    fence = "`" * (max((len(run) for run in re.findall(r"`+", flat)), default=0) + 1)
    padding = " " if flat.startswith("`") or flat.endswith("`") else ""
    return f"{fence}{padding}{flat}{padding}{fence}"


MAX_DEVICE_NAME, MAX_DEVICES = 80, 3
TIMES = {1: "once", 2: "twice"}


def training_story(record: dict) -> str | None:
    """How long a run trained and on what, from its run.json, Markdown-safe: "Trained 2 h 14 min on CPU (…)", then
    ", in 3 sittings (resumed twice from a checkpoint)" when it was resumed. The time counts every sitting, start-up
    and test included. None when the record says neither time nor device. Imported records can hold anything: what
    is not of the right type counts as missing."""
    def field(mapping, key, kind):
        value = mapping.get(key) if isinstance(mapping, dict) else None
        return value if isinstance(value, kind) and not isinstance(value, bool) else None

    def seconds_of(mapping, key) -> float:
        value = field(mapping, key, (int, float))
        return value if value is not None and math.isfinite(value) and value > 0 else 0.0

    segments = [s for s in field(record, "segments", list) or [] if isinstance(s, dict)]
    if segments:
        seconds = sum(seconds_of(s, "seconds") for s in segments)
        advanced = [s for s in segments if (_number(s.get("to_epoch")) or 0) > (_number(s.get("from_epoch")) or 0)]
        devices = [s.get("device") for s in advanced or segments]
    else:
        seconds = seconds_of(record.get("durations"), "total_s")
        advanced = []
        devices = [field(record.get("environment"), "device", str)]
    # One line each, of a sane length: a device name is the machine's own text, or anything in an imported run.
    devices = list(dict.fromkeys(" ".join(d.split())[:MAX_DEVICE_NAME] for d in devices if isinstance(d, str) and d.strip()))
    if not seconds and not devices:
        return None
    story = "Trained" + (f" {duration(seconds)}" if seconds else "")
    if devices:
        shown = devices[:MAX_DEVICES]
        more = f" and {len(devices) - len(shown)} more" if len(devices) > len(shown) else ""
        story += " on " + " and ".join(text(d) for d in shown) + more
    if len(advanced) > 1:
        resumed = len(advanced) - 1
        story += f", in {len(advanced)} sittings (resumed {TIMES.get(resumed, f'{resumed} times')} from a checkpoint)"
    return story
