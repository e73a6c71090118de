"""Pagination of the JSON API (``REST_FRAMEWORK["DEFAULT_PAGINATION_CLASS"]``).

Its own module: DRF imports the pagination class while ``rest_framework.generics`` loads, so the
module must not import the view sets.
"""

from __future__ import annotations

from typing import Any

from rest_framework import pagination, serializers
from rest_framework.request import Request


class LimitOffsetPagination(pagination.LimitOffsetPagination):
    """DRF's ``limit``/``offset`` pagination with bounds, and a 400 naming the parameter when a value
    is not a whole number within them.

    DRF ignores a malformed ``limit`` and passes any ``offset`` to the database, where one beyond
    64 bits fails as a server error.
    """

    max_limit = 500
    # The largest PostgreSQL ``integer``: no table here comes near that many rows.
    max_offset = 2**31 - 1

    def _bounded(self, request: Request, name: str, default: int | None, minimum: int, maximum: int) -> int | None:
        raw = request.query_params.get(name)
        if raw is None or raw == "":
            return default
        text = raw.strip()
        if not (text.isascii() and text.isdigit()) or not minimum <= int(text) <= maximum:
            raise serializers.ValidationError(
                {name: [f"Expected a whole number from {minimum} to {maximum}, got {raw[:40]!r}."]}
            )
        return int(text)

    def get_limit(self, request: Request) -> int | None:
        return self._bounded(request, self.limit_query_param, self.default_limit, 1, self.max_limit)

    def get_offset(self, request: Request) -> int:
        return self._bounded(request, self.offset_query_param, 0, 0, self.max_offset) or 0

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        bounds = {self.limit_query_param: (1, self.max_limit), self.offset_query_param: (0, self.max_offset)}
        for parameter in parameters:
            minimum, maximum = bounds[parameter["name"]]
            parameter["schema"] = {**parameter["schema"], "minimum": minimum, "maximum": maximum}
        return parameters
