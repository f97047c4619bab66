"""Argument types shared by the command-line commands (`citycse users|tariff|sim ...`)."""

from __future__ import annotations

import argparse
from decimal import Decimal, InvalidOperation


def non_negative_decimal(text: str, what: str = "number") -> Decimal:
    """An argument that must be a finite decimal number of at least zero."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not a {what}: {text!r}") from None
    if not value.is_finite() or value < 0:
        raise argparse.ArgumentTypeError(f"not a non-negative {what}: {text!r}")
    return value
