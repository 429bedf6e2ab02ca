"""Errors the API layer turns into clear JSON 4xx responses ({"error", "detail"})."""

from __future__ import annotations


class ApiError(Exception):
    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail
