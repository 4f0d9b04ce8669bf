"""The upload service: HTTP API and upload worker."""

from __future__ import annotations

__version__ = "0.1.0"
