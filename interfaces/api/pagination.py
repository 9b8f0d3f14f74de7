"""Page-number pagination whose page size the client may choose (``?page_size=``), within a cap."""

from __future__ import annotations

from rest_framework.pagination import PageNumberPagination

#: The most rows one page may hold (a larger ``page_size`` is served as this many).
MAX_PAGE_SIZE = 1000


class PageSizePagination(PageNumberPagination):
    """``?page=N&page_size=M``: M rows a page (default ``PAGE_SIZE``, at most :data:`MAX_PAGE_SIZE`)."""

    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE
