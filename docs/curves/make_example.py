"""Draw the content of docs/curves.md's example: a chair and a lamp, clean black strokes on white,
512 x 512 px. Usage: python docs/curves/make_example.py OUT.png"""

import sys

from PIL import Image, ImageDraw


def draw(path: str, side: int = 512) -> None:
    img = Image.new("RGB", (side, side), "white")
    d = ImageDraw.Draw(img)
    w = 4
    # chair: curved backrest, seat in perspective, four legs, a rail
    d.arc((70, 40, 250, 200), 180, 360, fill="black", width=w)  # top of the backrest
    d.line([(70, 120), (78, 300)], fill="black", width=w)
    d.line([(250, 120), (242, 300)], fill="black", width=w)
    d.line([(100, 150), (220, 150)], fill="black", width=w)  # back slat
    d.line([(78, 300), (242, 300), (290, 340), (120, 340), (78, 300)], fill="black", width=w, joint="curve")
    for x0, y0, x1, y1 in ((78, 300, 82, 450), (242, 300, 240, 420), (290, 340, 286, 470), (120, 340, 124, 480)):
        d.line([(x0, y0), (x1, y1)], fill="black", width=w)
    d.line([(82, 410), (286, 430)], fill="black", width=3)  # rail
    # lamp: round shade, stem, base
    d.ellipse((340, 90, 470, 150), outline="black", width=w)
    d.line([(340, 120), (360, 220), (450, 220), (470, 120)], fill="black", width=w, joint="curve")
    d.line([(405, 220), (405, 430)], fill="black", width=w)
    d.ellipse((345, 420, 465, 470), outline="black", width=w)
    img.save(path)


if __name__ == "__main__":
    draw(sys.argv[1] if len(sys.argv) > 1 else "chair.png")
