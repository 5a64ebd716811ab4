"""Sizes in the config: one parser, binary and decimal units, plain bytes; clear refusals."""

from __future__ import annotations

import pytest

from bot.config_loader import config_from_dict
from core.errors import ConfigError
from core.spec.sizes import parse_size, show_size

MiB = 1 << 20


@pytest.mark.parametrize(("text", "size"), [
    ("512MiB", 512 * MiB), ("1GiB", 1 << 30), ("500MB", 500_000_000), ("200M", 200 * MiB), ("64k", 64 << 10),
    ("1.5GiB", 3 << 29), ("512 mib", 512 * MiB), (4096, 4096), ("4096", 4096), ("10B", 10),
])
def test_sizes_parse_in_binary_and_decimal_units_or_as_bytes(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("bad", ["lots", "512XB", "-1MiB", "1.5", True, -3, 1.5, "", "MiB"])
def test_what_is_not_a_size_is_refused(bad):
    with pytest.raises(ValueError):
        parse_size(bad)


def test_sizes_are_shown_as_the_config_would_say_them():
    assert (show_size(512 * MiB), show_size(612 * MiB + 12345), show_size(3 << 29)) == ("512 MiB", "612 MiB",
                                                                                        "1.5 GiB")


def _program(**extra: object) -> dict[str, object]:
    return {"procbot": {"state_dir": "s"}, "program": [{"name": "web", "command": ["web"], **extra}]}


def test_max_memory_in_the_config_is_bytes_in_the_spec():
    [p] = config_from_dict(_program(max_memory="512MiB"), "p.toml").program
    assert (p.max_memory, p.max_memory_samples, p.max_memory_hard) == (512 * MiB, 3, None)


def test_a_bad_max_memory_is_refused_naming_its_key():
    with pytest.raises(ConfigError, match=r"program\[web\]\.max_memory: .huge. is not a size"):
        config_from_dict(_program(max_memory="huge"), "p.toml")


def test_a_max_memory_without_a_unit_below_1mib_is_refused():
    with pytest.raises(ConfigError, match="below 1 MiB"):
        config_from_dict(_program(max_memory=512), "p.toml")


def test_max_memory_hard_below_max_memory_is_refused():
    with pytest.raises(ConfigError, match="below max_memory"):
        config_from_dict(_program(max_memory="1GiB", max_memory_hard="512MiB"), "p.toml")
