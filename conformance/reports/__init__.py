"""Renderings of one :class:`~conformance.results.SuiteResult`: console, JUnit XML, JSON, HTML."""

from conformance.reports.html import render_html
from conformance.reports.junit import render_junit


def render_json(result) -> str:
    """The documented JSON shape (:class:`~conformance.results.SuiteResult`), indented."""
    return result.model_dump_json(indent=2)


__all__ = ["render_html", "render_json", "render_junit"]
