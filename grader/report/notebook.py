"""The executed notebook in a report: nbconvert's HTML, cleaned, shown in a sandboxed iframe (or linked)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from markupsafe import Markup

from grader.report.html import environment
from grader.report.text import CONTENT_SECURITY_POLICY, Catalogue

#: Rendered notebooks larger than this (characters of HTML) are written beside the report and linked.
NOTEBOOK_EMBED_LIMIT = 3_000_000


_DROP_TAGS = ("script", "iframe", "frame", "frameset", "object", "embed", "applet", "link", "meta", "base",
              "form", "noscript", "template", "portal", "style", "audio", "video", "source", "track")
_URL_ATTRS = {"src", "srcset", "href", "xlink:href", "action", "formaction", "poster", "background", "data",
              "ping", "lowsrc", "dynsrc", "longdesc", "cite", "manifest", "codebase", "usemap", "srcdoc"}


def sanitize_fragment(markup: str) -> str:
    """Drop what could run or load something: scripts, frames, handlers, non-data: resources."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(markup, "html.parser")
    for tag in soup.find_all(_DROP_TAGS):
        tag.decompose()
    for tag in soup.find_all(True):
        for attribute in list(tag.attrs):
            name = attribute.lower()
            value = tag.attrs[attribute]
            compact = re.sub(r"[\s\x00-\x1f]", "", " ".join(value) if isinstance(value, list) else str(value)).lower()
            if name.startswith("on"):
                del tag.attrs[attribute]
            elif name == "style":
                if any(token in compact for token in ("url(", "expression(", "@import", "image-set(", "\\")):
                    del tag.attrs[attribute]
            elif name in _URL_ATTRS:
                keep = ((tag.name == "img" and name == "src" and compact.startswith("data:image/"))
                        or (name == "href" and compact.startswith("#"))
                        or (tag.name == "a" and name == "href" and compact.startswith(("http:", "https:", "mailto:"))))
                if not keep:
                    del tag.attrs[attribute]
                    if tag.name == "img" and name == "src":
                        tag.decompose()  # an outside image: nothing to show in its place
                        break
                elif tag.name == "a" and not compact.startswith("#"):
                    tag.attrs["rel"] = "noopener noreferrer"
    return str(soup)


def render_notebook_fragment(path: Path) -> str:
    """The executed notebook as a cleaned HTML fragment (nbconvert's ``basic`` template)."""
    import nbformat
    from nbconvert import HTMLExporter

    notebook = nbformat.read(str(path), as_version=4)
    exporter = HTMLExporter(template_name="basic", embed_images=True)
    body, _resources = exporter.from_notebook_node(notebook)
    return sanitize_fragment(body)


def _pygments_css() -> str:
    from pygments.formatters import HtmlFormatter

    return HtmlFormatter(style="default").get_style_defs(".highlight")


def _notebook_document(fragment: str, lang: str, title: str) -> str:
    template = environment().get_template("notebook.html.j2")
    return template.render(lang=lang, title=title, csp=CONTENT_SECURITY_POLICY, fragment=Markup(fragment),
                           pygments_css=Markup(_pygments_css()))


def notebook_view(path: Path, out_dir: Path, stem: str, t: Catalogue, title: str) -> dict[str, Any]:
    try:
        fragment = render_notebook_fragment(Path(path))
    except Exception as exc:  # noqa: BLE001 - an unreadable notebook must not stop the report
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        return {"mode": "error", "note": t("notebook_unreadable", reason=reason)}
    document = _notebook_document(fragment, t.lang, title)
    if len(document) <= NOTEBOOK_EMBED_LIMIT:
        return {"mode": "embedded", "srcdoc": document}
    linked = out_dir / f"{stem}.notebook.html"
    linked.write_text(document, encoding="utf-8")
    return {"mode": "linked", "href": linked.name}
