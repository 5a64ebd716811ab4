"""Reading limit and umask values (pure): what the config check refuses is what the spawn could not apply."""

from __future__ import annotations

import pytest

from core.spec.limits import INFINITY, LIMITS, SIZE_LIMITS, Limit, parse_limit, parse_umask
from core.spec.sizes import parse_size


def test_sizes_are_binary_and_accept_plain_bytes():
    assert [parse_size(v) for v in (4096, "4096", "64KiB", "512MiB", "2GiB", "1.5G", "1T")] == [
        4096, 4096, 64 << 10, 512 << 20, 2 << 30, 3 << 29, 1 << 40]


@pytest.mark.parametrize("bad", ["two", "-1", "", "1 GiB extra"])
def test_a_size_that_is_not_one_is_refused(bad):
    with pytest.raises(ValueError, match="is not a size"):
        parse_size(bad)


def test_one_value_is_soft_and_hard_and_a_pair_is_soft_then_hard():
    assert parse_limit("nofile", 1024) == Limit("nofile", LIMITS["nofile"], 1024, 1024)
    assert parse_limit("stack", ["8MiB", "unlimited"]) == Limit("stack", LIMITS["stack"], 8 << 20, INFINITY)


def test_a_soft_limit_above_the_hard_one_is_refused():
    with pytest.raises(ValueError, match="soft limit is above the hard limit"):
        parse_limit("nofile", [4096, 1024])
    with pytest.raises(ValueError, match="soft limit is above the hard limit"):
        parse_limit("nofile", ["unlimited", 1024])


def test_units_only_for_limits_measured_in_bytes():
    assert "nofile" not in SIZE_LIMITS
    with pytest.raises(ValueError, match="only sizes"):
        parse_limit("nofile", "64KiB")


def test_a_umask_is_octal_text_or_an_int():
    assert (parse_umask("0027"), parse_umask("027"), parse_umask(0o027)) == (0o027, 0o027, 0o027)
    for bad in ("0o27", "8", "00777", 0o1000, True):
        with pytest.raises(ValueError):
            parse_umask(bad)


def test_limits_describe_themselves_in_units_people_write():
    assert parse_limit("as", "2GiB").describe() == "as 2 GiB"
    assert parse_limit("core", [0, "unlimited"]).describe() == "core 0 / unlimited"
