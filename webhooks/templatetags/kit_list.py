"""{% kit_result_list cl %}: Django's {% result_list cl %} (the same template, per model,
per app or global), its rows written by webhooks.admin.rows."""

from __future__ import annotations

from typing import Any

from django import template
from django.contrib.admin.templatetags.base import InclusionAdminNode

from webhooks.admin.rows import result_list

register = template.Library()


@register.tag(name="kit_result_list")
def kit_result_list(parser: Any, token: Any) -> InclusionAdminNode:
    return InclusionAdminNode(parser, token, func=result_list, template_name="change_list_results.html",
                              takes_context=False)
