"""``/docs``: Swagger UI over ``/openapi.json``, its two files from a CDN at one pinned
version with Subresource Integrity, so a CDN that served anything else is refused by the
browser (docs/security.md). FastAPI's own page loads ``swagger-ui-dist@5`` (whatever 5.x
is newest) without integrity hashes.

The hashes are of the files of the npm package: ``npm pack swagger-ui-dist@5.35.0`` and
``openssl dgst -sha384 -binary package/<file> | base64``.
"""

from __future__ import annotations

from fastapi.responses import HTMLResponse

SWAGGER_UI_VERSION = "5.35.0"
_CDN = f"https://cdn.jsdelivr.net/npm/swagger-ui-dist@{SWAGGER_UI_VERSION}"
SWAGGER_UI_JS = (
    f"{_CDN}/swagger-ui-bundle.js",
    "sha384-gjRm0bEPMeTmMh5jT2cHccIwCUZSTd8YC+j0d0sXw0MdGEfScduGpSyF3ZSSLkX9",
)
SWAGGER_UI_CSS = (
    f"{_CDN}/swagger-ui.css",
    "sha384-WlYgdmXYOOBWL5apwjDEZwN+U3HmXSSu5R6V5aGxEcf7z+KuRNwBhoxKVN1i3D5I",
)

_PAGE = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Frontdesk API</title>
<link rel="stylesheet" href="{SWAGGER_UI_CSS[0]}"
  integrity="{SWAGGER_UI_CSS[1]}" crossorigin="anonymous" referrerpolicy="no-referrer">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{SWAGGER_UI_JS[0]}"
  integrity="{SWAGGER_UI_JS[1]}" crossorigin="anonymous" referrerpolicy="no-referrer"></script>
<script>
SwaggerUIBundle({{url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true}});
</script>
</body>
</html>
"""


def swagger_ui() -> HTMLResponse:
    return HTMLResponse(_PAGE)
