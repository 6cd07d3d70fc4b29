"""The Tkinter drawing app: `window` (the app), `inside` (its Inside window), `drawing` (strokes
rendered into an image, no display needed).

Imports `reading` and the package root.
"""
