"""Writes ``src/frontdesk/mail/templates/notification.inlined.html``: the HTML e-mail's
template with its ``<style>`` inlined into ``style`` attributes (css-inline), because many
mail clients (Gmail, Outlook) drop ``<style>`` elements.

The template's rules select by element and class, never by what a value holds or by
position, so inlining the template once is inlining every e-mail it renders
(``tests/mail/test_compose.py`` holds the two to the same document for any visitor text).
Done here rather than when a process loads the template: css-inline's library is 2.6 MB of
a worker's memory once loaded (docs/performance.md), for one use.

Run after changing ``notification.html``: ``python tools/inline_css.py``;
``python tools/inline_css.py --check`` fails when the written file is not current
(``tests/mail/test_inlined_template.py`` runs it).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import css_inline

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

# The templates as written, and the ones the product loads in their place.
from frontdesk.mail.compose import INLINED_TEMPLATES, TEMPLATES_DIR  # noqa: E402

HEADER = (
    "{#- Written by tools/inline_css.py from {source}, with its <style> inlined: edit that\n"
    "    file, then run the tool. -#}\n"
)

_JINJA_SYNTAX = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)
_STAND_IN = re.compile("<!--\ue000(\\d+)\ue001-->|\ue000(\\d+)\ue001")


def inliner() -> css_inline.CSSInliner:
    # Remote stylesheets are never fetched: writing an e-mail must not touch the network.
    return css_inline.CSSInliner(load_remote_stylesheets=False, keep_style_tags=False)


def inlined_source(source: str) -> str:
    """A template's source with its CSS inlined, as if each e-mail's HTML were inlined
    after rendering.

    The inliner parses HTML, where the template's syntax would be text and a ``{% if %}``
    between table rows would move out of the table: each ``{{ … }}`` stands in as a
    token of private-use characters (valid text and attribute value alike), each
    ``{% … %}`` and ``{# … #}`` as a comment holding one, and both are put back after."""
    found: list[str] = []

    def stand_in(match: re.Match[str]) -> str:
        found.append(match.group())
        token = f"\ue000{len(found) - 1}\ue001"
        return token if match.group().startswith("{{") else f"<!--{token}-->"

    inlined = inliner().inline(_JINJA_SYNTAX.sub(stand_in, source))
    restored: list[int] = []

    def put_back(match: re.Match[str]) -> str:
        index = int(match.group(1) or match.group(2))
        restored.append(index)
        return found[index]

    result = _STAND_IN.sub(put_back, inlined)
    if sorted(restored) != list(range(len(found))):
        raise ValueError("the CSS inliner lost or moved a part of the template's syntax")
    return result


def written(source: str) -> str:
    """What the tool writes for the template named ``source``."""
    text = (TEMPLATES_DIR / source).read_text(encoding="utf-8")
    return HEADER.replace("{source}", source) + inlined_source(text)


def main(check: bool) -> int:
    stale = []
    for source, target in INLINED_TEMPLATES.items():
        text = written(source)
        path = TEMPLATES_DIR / target
        if check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path.relative_to(ROOT)))
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}")
    if stale:
        print(f"not current: {', '.join(stale)}; run: python tools/inline_css.py")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(check="--check" in sys.argv[1:]))
