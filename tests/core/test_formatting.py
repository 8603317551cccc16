"""core.formatting: numbers as people read them, user text shown as typed (never as Markdown)."""

import math

import pytest

from core import formatting as fmt


def test_percentages_intervals_and_durations_read_at_a_glance():
    assert fmt.pct(0.8861) == "88.6%" and fmt.pct(0.5, 0) == "50%"
    assert fmt.interval(0.873, 0.886) == "87.3–88.6%"
    assert fmt.accuracy_interval_text({"test_error_ci95": [0.114, 0.127]}) == "87.3–88.6%"
    assert [fmt.duration(s) for s in (0, 0.3, 0.5, 4.4, 65, 3725)] == ["0 s", "under 1 s", "under 1 s", "4 s", "1 min 05 s",
                                                                       "1 h 02 min"]
    for missing in (None, math.nan, "x", True):
        assert fmt.pct(missing) == fmt.DASH and fmt.duration(missing) == fmt.DASH


def test_a_tiny_p_value_is_a_bound_not_scientific_notation():
    assert fmt.p_value(9.76e-87) == "p < 0.0001"
    assert fmt.p_value(0.0032) == "p = 0.0032" and fmt.p_value(0.25) == "p = 0.25" and fmt.p_value(0.04) == "p = 0.04"
    assert (fmt.p_value(0.0496), fmt.p_value(0.0504)) == ("p = 0.0496", "p = 0.0504")  # either side of 5 %


def test_how_sure_never_rounds_up_to_certainty():
    assert fmt.sure(0.9996) == ">99.9% sure" and fmt.sure(0.997) == "99.7% sure" and fmt.sure(0.51) == "51% sure"


def test_settings_use_the_names_people_know():
    assert fmt.setting("dataset", "cifar100") == "CIFAR-100"
    assert fmt.setting("architecture", "fmnist_arch1") == "Fashion-MNIST Arch 1"
    assert fmt.setting("limit", 0) == "all" and fmt.setting("limit", 3000) == "3,000" and fmt.setting("l2", 0.0) == "off"
    assert fmt.setting("learning_rate", 1e-4) == "0.0001" and fmt.setting("augment", True) == "yes"


@pytest.mark.parametrize("typed, escaped", [
    ("**bold** :red[red] $x^2$", r"\*\*bold\*\* \:red\[red\] \$x^2\$"),
    ("<b>html</b> and :smile: and :material/home:", r"\<b\>html\</b\> and \:smile: and \:material/home:"),
    ("# heading", r"\# heading"),
    ("- a list\n1. numbered", "\\- a list\n1\\. numbered"),
    ("a heading\n===\nanother\n---\n- - -", "a heading\n\\===\nanother\n\\---\n\\- - -"),
    ("DataError: Fashion-MNIST not found (3.5 MB)", "DataError: Fashion-MNIST not found (3.5 MB)"),
])
def test_user_text_is_escaped_for_markdown_and_only_where_it_would_format(typed, escaped):
    assert fmt.text(typed) == escaped


def test_the_training_story_says_how_long_on_what_and_in_how_many_sittings():
    segment = {"seconds": 3600.0, "device": "CPU (AMD EPYC, 2 cores)", "from_epoch": 0, "to_epoch": 7, "status": "failed"}
    resumed = {"segments": [segment,
                            {**segment, "seconds": 60.0, "from_epoch": 7, "to_epoch": 7},  # killed before an epoch ended
                            {**segment, "seconds": 1800.0, "device": "GPU (H200)", "from_epoch": 7, "to_epoch": 50}]}
    assert fmt.training_story(resumed) == ("Trained 1 h 31 min on CPU (AMD EPYC, 2 cores) and GPU (H200), "
                                           "in 2 sittings (resumed once from a checkpoint)")
    four = {"segments": [{**segment, "from_epoch": k, "to_epoch": k + 1} for k in range(4)]}
    assert fmt.training_story(four).endswith("in 4 sittings (resumed 3 times from a checkpoint)")
    older = {"durations": {"total_s": 431.0}, "environment": {"device": "CPU (Xeon, 2 cores)"}}  # before segments
    assert fmt.training_story(older) == "Trained 7 min 11 s on CPU (Xeon, 2 cores)"


def test_an_imported_records_odd_times_and_device_names_cannot_distort_the_training_story():
    segment = {"seconds": 3600.0, "device": "CPU", "from_epoch": 0, "to_epoch": 1}
    odd = {"segments": [segment, {**segment, "seconds": -3000.0}, {**segment, "seconds": "600"},
                        {**segment, "seconds": float("inf")}, {**segment, "seconds": True}]}
    assert fmt.training_story(odd).startswith("Trained 1 h 00 min on CPU,")  # only the sound 3600 s count
    styled = {"segments": [{**segment, "device": "**big**\n===\n:red[GPU]  " + "x" * 200}]}
    assert fmt.training_story(styled) == "Trained 1 h 00 min on \\*\\*big\\*\\* === \\:red\\[GPU\\] " + "x" * 58
    many = {"segments": [{**segment, "device": f"node {k}"} for k in range(5)]}
    assert "on node 0 and node 1 and node 2 and 2 more," in fmt.training_story(many)


@pytest.mark.parametrize("record", [{}, {"segments": "abc", "durations": [1], "environment": "x"},
                                    {"segments": [{"seconds": "inf", "device": 3}]}, {"durations": {"total_s": math.nan}}])
def test_a_record_with_no_usable_time_or_device_has_no_training_story(record):
    assert fmt.training_story(record) is None


def test_code_quotes_text_as_typed_whatever_backticks_it_holds():
    assert fmt.code("**b** <img>") == "`**b** <img>`"  # no escapes: a code span shows backslashes as they are
    assert fmt.code("a`b") == "``a`b``"
    assert fmt.code("`x") == "`` `x ``"
    assert fmt.code("two\nlines") == "`two lines`"
