"""The changelist's rows, the cells Django's admin writes, for a third less CPU.

Django's `items_for_result` works out every column again for every row: which field or
admin method the column names (through an exception for each method column), its empty
value, whether it links, and it builds each cell with format_html. On a 100-row page with
seven to ten columns that was 40 % of the page's CPU. Here each column is worked out once
per page (`_columns`) and each cell is the same characters written directly; anything
unusual (an editable list, a popup, a `to_field` link, a column Django resolves through
the model's attributes) is left to Django's own function. The template tag that uses it
is `{% kit_result_list cl %}` in templates/admin/change_list.html.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.contrib.admin.templatetags import admin_list
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
from django.contrib.admin.utils import (  # type: ignore[attr-defined]
    # Django's own helpers, private ones included, so that a column resolves as Django
    # resolves it (tests/test_admin_lists compares the cells with Django's on every list).
    FieldIsAForeignKeyColumnName,
    _get_non_gfk_field,
    display_for_field,
    display_for_value,
    lookup_field,
)
from django.core.exceptions import FieldDoesNotExist, ObjectDoesNotExist
from django.db import models
from django.urls import NoReverseMatch
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe

# A column whose value Django looks up on the model row by row (a property, a related path).
BY_DJANGO = object()


@dataclass(frozen=True)
class Column:
    name: Any
    css: str  # "field-<name>"
    tag: str | None  # "th" or "td" when the cell links to the row's page, else None
    field: Any  # the model field, or None
    getter: Any  # None (the field), an admin method or callable, or BY_DJANGO


def _columns(cl: Any) -> list[Column]:
    """What items_for_result works out per cell, once per page."""
    cached: list[Column] | None = getattr(cl, "_kit_columns", None)
    if cached is not None:
        return cached
    columns, first = [], True
    for index, name in enumerate(cl.list_display):
        if cl.list_display_links is None:
            link = False
        else:
            link = (first and not cl.list_display_links) or name in cl.list_display_links
        tag = None
        if link:
            tag, first = ("th" if first else "td"), False
        try:
            field, getter = _get_non_gfk_field(cl.lookup_opts, name), None
        except (FieldDoesNotExist, FieldIsAForeignKeyColumnName):
            field = None
            if callable(name):
                getter = name
            elif hasattr(cl.model_admin, name) and name != "__str__":
                getter = getattr(cl.model_admin, name)
            else:
                getter = BY_DJANGO
        css = f"field-{admin_list._coerce_field_name(name, index)}"  # type: ignore[attr-defined]
        columns.append(Column(name, css, tag, field, getter))
    cl._kit_columns = columns
    return columns


def items_for_result(cl: Any, result: Any, form: Any) -> Iterator[SafeString]:
    """django.contrib.admin.templatetags.admin_list.items_for_result, the same cells."""
    if form is not None or cl.is_popup or cl.to_field:
        yield from admin_list.items_for_result(cl, result, form)
        return
    default_empty = cl.model_admin.get_empty_value_display()
    for column in _columns(cl):
        field, attr, empty = column.field, None, default_empty
        classes = column.css
        try:
            if column.getter is None:
                value = getattr(result, column.name)
            elif column.getter is BY_DJANGO:
                field, attr, value = lookup_field(column.name, result, cl.model_admin)
            else:
                attr, value = column.getter, column.getter(result)
        except ObjectDoesNotExist:
            shown: Any = empty
        else:
            empty = getattr(attr, "empty_value_display", empty)
            if isinstance(value, str) and value.strip() == "":
                value = ""
            if field is None or field.auto_created:
                if column.name == "action_checkbox":
                    classes = "action-checkbox"
                boolean = getattr(attr, "boolean", False)
                if isinstance(attr, property) and hasattr(attr, "fget"):
                    boolean = getattr(attr.fget, "boolean", False)
                shown = display_for_value(value, empty, boolean)
                if isinstance(value, (datetime.date, datetime.time)):
                    classes += " nowrap"
            else:
                if isinstance(field.remote_field, models.ManyToOneRel):
                    related = getattr(result, field.name)
                    shown = empty if related is None else related
                else:
                    shown = display_for_field(value, field, empty, avoid_link=column.tag is not None)
                if isinstance(field, (models.DateField, models.TimeField, models.ForeignKey)):
                    classes += " nowrap"
        if column.tag is None:
            yield mark_safe(f'<td class="{classes}">{conditional_escape(shown)}</td>')  # noqa: S308 - escaped
            continue
        try:
            url = cl.url_for_result(result)
        except NoReverseMatch:
            inner: str = conditional_escape(shown)
        else:
            inner = f'<a href="{conditional_escape(_with_filters(cl, url))}">{conditional_escape(shown)}</a>'
        yield mark_safe(f'<{column.tag} class="{classes}">{inner}</{column.tag}>')  # noqa: S308 - escaped


def _with_filters(cl: Any, url: str) -> str:
    """add_preserved_filters for a row's link. What it adds to a URL without a query
    depends on the view the URL resolves to (it looks it up with resolve(), a fifth of a
    filtered list's CPU), and every row's link is the same change view: it is worked out
    for the first row and appended to the others."""
    context = {"preserved_filters": cl.preserved_filters, "opts": cl.opts}
    if "?" in url or "#" in url:
        return str(add_preserved_filters(context, url))
    suffix: str | None = getattr(cl, "_kit_filters_suffix", None)
    if suffix is None:
        linked = str(add_preserved_filters(context, url))
        if not linked.startswith(url):
            return linked
        suffix = cl._kit_filters_suffix = linked[len(url):]
    return url + suffix


def results(cl: Any) -> Iterator[admin_list.ResultList]:
    if cl.formset:
        yield from admin_list.results(cl)
        return
    for result in cl.result_list:
        yield admin_list.ResultList(None, items_for_result(cl, result, None))


def result_list(cl: Any) -> dict[str, Any]:
    """admin_list.result_list, its rows from `results` above."""
    headers = list(admin_list.result_headers(cl))
    return {
        "cl": cl,
        "result_hidden_fields": list(admin_list.result_hidden_fields(cl)),
        "result_headers": headers,
        "num_sorted_fields": sum(1 for h in headers if h["sortable"] and h["sorted"]),
        "results": list(results(cl)),
    }
