"""Figures of docs/measurements.md (every figure table of the docs) that a command of the package computes are what it
computes now."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from seqtrack_accel.cli.profile import count
from seqtrack_accel.config import load_config
from seqtrack_accel.model import SeqTrackConfig

REPO = Path(__file__).resolve().parents[1]
PROFILE_HEADER = "| config | parameters | without tables | MACs | without attention products |"


def _table_rows(header: str, page: Path = REPO / "docs" / "measurements.md") -> list[tuple[str, list[str]]]:
    """The rows of the markdown table of ``page`` that starts with ``header``: (page, cells)."""
    lines = page.read_text().splitlines()
    assert header in lines, f"{page.name} holds no table {header!r}"
    rows = []
    for line in lines[lines.index(header) + 2:]:  # past the separator line
        if not line.startswith("|"):
            break
        rows.append((page.name, [cell.strip() for cell in line.strip("|").split("|")]))
    return rows


def _rounds_to(value: float, text: str, unit: float) -> bool:
    """Whether ``text`` (``89.1M (paper: 89M)``, ``0.15G``) is ``value`` rounded to the digits it shows."""
    number = re.match(r"([0-9.]+)[MG]", text).group(1)
    decimals = len(number.split(".")[1]) if "." in number else 0
    return round(value / unit, decimals) == float(number)


@pytest.mark.parametrize("page, cells", _table_rows(PROFILE_HEADER), ids=lambda v: v if isinstance(v, str) else v[0])
def test_the_profile_tables_counts_are_what_seqtrack_profile_counts(page, cells):
    config, params, without_tables, macs, without_attention = cells
    counts = count(SeqTrackConfig.from_config(load_config(config)))
    total, tables = counts["params"]["total"], counts["params_tables"]
    macs_total, attention = counts["macs"]["total"], counts["attention_macs"]["total"]
    assert _rounds_to(total, params, 1e6), f"{page}, {config}: {total:,} parameters"
    assert _rounds_to(total - tables, without_tables, 1e6), f"{page}, {config}: {total - tables:,} without tables"
    assert _rounds_to(macs_total, macs, 1e9), f"{page}, {config}: {macs_total:,} MACs"
    assert _rounds_to(macs_total - attention, without_attention, 1e9), \
        f"{page}, {config}: {macs_total - attention:,} MACs without attention products"
