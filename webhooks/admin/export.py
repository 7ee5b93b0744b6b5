"""Download a filtered admin list as CSV or JSON lines, streamed.

Rows are read with a server-side cursor in chunks and written as they come, so a hundred
thousand rows never sit in memory. Exports hold customer data, so they need the same
permission as customer data exports, and each one is written to the admin log (which
filter, not what a search typed: a search term may be an e-mail address).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from django.contrib import messages
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponseRedirect, StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone

# The permission that guards a customer data export: a list export carries payloads, so
# it needs the same one (granted to no group by default; docs/handlers.md).
PERMISSION = "webhooks.download_customerdataexport"
FORMATS = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson; charset=utf-8"}
CHUNK = 2000
# A spreadsheet runs a cell that starts with one of these as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def allowed(request: HttpRequest) -> bool:
    return bool(request.user.has_perm(PERMISSION))


def links(request: HttpRequest, url_name: str) -> dict[str, str]:
    """The list's download links, with its current filter; none without the permission."""
    if not allowed(request):
        return {}
    query = request.GET.urlencode()
    return {fmt: reverse(url_name, args=[fmt]) + (f"?{query}" if query else "") for fmt in FORMATS}


def _cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False, default=str)
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


class _Line:
    """A file-like object that hands back what csv.writer writes."""

    def write(self, value: str) -> str:
        return value


def csv_lines(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[str]:
    writer = csv.writer(_Line())
    yield writer.writerow(headers)
    for row in rows:
        yield writer.writerow([_cell(v) for v in row])


def json_lines(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[str]:
    for row in rows:
        yield json.dumps(dict(zip(headers, row, strict=True)), ensure_ascii=False, default=str) + "\n"


def download(
    modeladmin: Any, request: HttpRequest, fmt: str, columns: Sequence[tuple[str, str]]
) -> StreamingHttpResponse | HttpResponseRedirect:
    """The changelist's own queryset (filters, search, order) as `fmt`; `columns` are
    (header, field path) pairs."""
    if not allowed(request):
        raise PermissionDenied
    if fmt not in FORMATS:
        raise Http404(f"no export format {fmt!r}")
    try:
        queryset = modeladmin.get_changelist_instance(request).get_queryset(request)
    except IncorrectLookupParameters:
        # What Django's own changelist does with a filter it cannot apply: back to the list.
        messages.error(request, "That filter cannot be applied; nothing was exported.")
        return HttpResponseRedirect(reverse(f"admin:{modeladmin.model._meta.app_label}_{modeladmin.model._meta.model_name}_changelist") + "?e=1")
    headers = [header for header, _ in columns]
    rows = queryset.values_list(*[path for _, path in columns]).iterator(chunk_size=CHUNK)
    body = csv_lines(headers, rows) if fmt == "csv" else json_lines(headers, rows)
    opts = modeladmin.model._meta
    shown = "&".join(f"{k}={'[search]' if k == 'q' else v}" for k, v in request.GET.items()) or "no filter"
    assert request.user.pk is not None  # an admin view: always a logged-in user
    LogEntry.objects.create(
        user_id=request.user.pk, content_type=ContentType.objects.get_for_model(modeladmin.model),
        object_repr=f"{opts.verbose_name_plural} export", action_flag=CHANGE,
        change_message=f"Exported the {opts.verbose_name_plural} list as {fmt.upper()} ({shown}).",
    )
    response = StreamingHttpResponse(body, content_type=FORMATS[fmt])
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="{opts.model_name}-{stamp}.{fmt}"'
    return response
