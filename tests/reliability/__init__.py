"""Reliability tests (issue 7): fault injection, bad input, fuzzing and security checks."""

from __future__ import annotations
