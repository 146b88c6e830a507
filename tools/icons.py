"""Draw the dashboard's app icons (web/static/icons): the accent colour with a white speech
bubble, at the sizes a web app manifest asks for, and a maskable one whose bubble keeps to
the safe zone (the inner 80 %). Run after changing the design; the PNGs are committed.

    .venv/bin/python tools/icons.py    (needs Pillow, which ./scripts/bench installs)
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

ICONS = Path(__file__).resolve().parents[1] / "src/frontdesk/web/static/icons"
ACCENT = (0x25, 0x57, 0xD6, 255)
WHITE = (255, 255, 255, 255)


def draw(size: int, *, maskable: bool) -> Image.Image:
    scale = 4  # drawn large and scaled down: smooth edges
    big = size * scale
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    pen = ImageDraw.Draw(image)
    if maskable:
        pen.rectangle((0, 0, big, big), fill=ACCENT)
    else:
        pen.rounded_rectangle((0, 0, big - 1, big - 1), radius=big // 5, fill=ACCENT)
    inset = big * (0.27 if maskable else 0.22)
    left, top, right, bottom = inset, inset, big - inset, big - inset * 1.25
    pen.rounded_rectangle((left, top, right, bottom), radius=(bottom - top) // 3, fill=WHITE)
    tail = (right - left) * 0.22
    pen.polygon(
        [(left + tail, bottom - 2), (left + tail * 2.1, bottom - 2), (left + tail, bottom + tail)],
        fill=WHITE,
    )
    dot = big * 0.045
    middle = (top + bottom) / 2
    for k in (-1, 0, 1):
        x = big / 2 + k * dot * 3.2
        pen.ellipse((x - dot, middle - dot, x + dot, middle + dot), fill=ACCENT)
    return image.resize((size, size), Image.Resampling.LANCZOS)


def main() -> None:
    ICONS.mkdir(parents=True, exist_ok=True)
    for size in (192, 512):
        draw(size, maskable=False).save(ICONS / f"icon-{size}.png", optimize=True)
    draw(512, maskable=True).save(ICONS / "icon-maskable-512.png", optimize=True)
    draw(180, maskable=True).convert("RGB").save(ICONS / "apple-touch-icon.png", optimize=True)


if __name__ == "__main__":
    main()
