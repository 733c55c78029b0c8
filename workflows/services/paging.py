"""One page of a list (the inbox, case lists, the registers): the rows and where they stand in the whole."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Page:
    items: list
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def offset(self) -> int:
        """How many rows come before this page."""
        return (self.page - 1) * self.per_page

    @classmethod
    def of(cls, total: int, per_page: int, asked: int | None) -> Page:
        """Page `asked` of `total` rows, brought within 1..pages (items left for the caller to read at `offset`)."""
        page = cls([], total, 1, per_page)
        page.page = min(max(1, asked or 1), page.pages)
        return page
