#!/usr/bin/python3
"""Draws the two Teams app icons with the standard library only (zlib + struct).

color.png   192x192: a white baton (a thick diagonal bar with round ends) on baton's red, full bleed.
outline.png  32x32: the same baton, white on a transparent background (what Teams asks of outline icons).

Usage: python3 make_icons.py [output-dir]   (default: this script's directory)
The drawing is deterministic, so the committed PNGs can be re-made byte for byte.
"""
import os
import struct
import sys
import zlib

ACCENT = (0xD1, 0x34, 0x38)  # manifest.json accentColor #D13438
WHITE = (0xFF, 0xFF, 0xFF)


def png(path, width, height, pixel):
    """Writes an 8-bit RGBA PNG; pixel(x, y) -> (r, g, b, a)."""
    rows = bytearray()
    for y in range(height):
        rows.append(0)  # filter type: none
        for x in range(width):
            rows.extend(pixel(x, y))

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", header))
        f.write(chunk(b"IDAT", zlib.compress(bytes(rows), 9)))
        f.write(chunk(b"IEND", b""))


def baton_coverage(x, y, size, samples=4):
    """How much of pixel (x, y) the baton covers, 0..1 (supersampled for smooth edges).

    The baton is a capsule from (0.25, 0.75) to (0.75, 0.25) of the icon, 0.16 of it thick."""
    ax, ay, bx, by = 0.25 * size, 0.75 * size, 0.75 * size, 0.25 * size
    radius = 0.08 * size
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    hits = 0
    for sy in range(samples):
        for sx in range(samples):
            px = x + (sx + 0.5) / samples
            py = y + (sy + 0.5) / samples
            t = max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / length2))
            cx, cy = ax + t * dx, ay + t * dy
            if (px - cx) ** 2 + (py - cy) ** 2 <= radius * radius:
                hits += 1
    return hits / (samples * samples)


def color_pixel(x, y):
    c = baton_coverage(x, y, 192)
    return tuple(round(a * (1 - c) + b * c) for a, b in zip(ACCENT, WHITE)) + (255,)


def outline_pixel(x, y):
    return WHITE + (round(255 * baton_coverage(x, y, 32)),)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    png(os.path.join(out, "color.png"), 192, 192, color_pixel)
    png(os.path.join(out, "outline.png"), 32, 32, outline_pixel)


if __name__ == "__main__":
    main()
