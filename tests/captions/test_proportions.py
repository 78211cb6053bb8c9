"""The Wilson score interval against published values (Newcombe 1998, table I)."""

import pytest

from captions.proportions import difference_interval, wilson_interval


@pytest.mark.parametrize(
    ("successes", "trials", "low", "high"),
    [
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
        (20, 20, 0.8389, 1.0),  # the mirror of 0/20
    ],
)
def test_the_interval_matches_newcombe(successes, trials, low, high):
    interval = wilson_interval(successes, trials)
    assert interval.low == pytest.approx(low, abs=5e-5)
    assert interval.high == pytest.approx(high, abs=5e-5)


def test_a_wider_level_gives_a_wider_interval_around_the_same_share():
    narrow, wide = wilson_interval(40, 50, z=1.0), wilson_interval(40, 50)
    assert wide.low < narrow.low < 0.8 < narrow.high < wide.high


@pytest.mark.parametrize(("successes", "trials"), [(1, 0), (-1, 5), (6, 5)])
def test_counts_that_are_not_a_proportion_are_refused(successes, trials):
    with pytest.raises(ValueError, match="is not a proportion"):
        wilson_interval(successes, trials)


def test_the_difference_interval_matches_newcombe_method_10():
    # Newcombe 1998 (difference of independent proportions), example: 56/70 - 48/80.
    b_minus_a = difference_interval(48, 80, 56, 70)
    assert b_minus_a.low == pytest.approx(0.0524, abs=5e-5)
    assert b_minus_a.high == pytest.approx(0.3339, abs=5e-5)
    a_minus_b = difference_interval(56, 70, 48, 80)
    assert (a_minus_b.low, a_minus_b.high) == pytest.approx(
        (-b_minus_a.high, -b_minus_a.low)
    )


def test_equal_shares_give_an_interval_around_zero():
    interval = difference_interval(30, 60, 30, 60)
    assert interval.low < 0 < interval.high
    assert interval.low == pytest.approx(-interval.high)
